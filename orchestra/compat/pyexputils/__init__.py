"""PyExpUtils' names: experiment descriptions, save paths and ``config.json``, results, Slurm helpers.

``from orchestra.compat.pyexputils import ExperimentDescription, loadExperiment`` replaces
``from PyExpUtils.models.ExperimentDescription import ...``; ``loadResults``, ``getBest`` and the
other results helpers read orchestra sweeps (and PyExpUtils' own .npy results), see
:mod:`orchestra.compat.pyexputils.results` (with ``results.paths`` and ``results.indices``);
``runner.parallel.build`` makes GNU parallel command lines; ``flagString`` formats flags; the Slurm
helpers (``Options``, ``hours``, ``gigs``, ``fromFile``, ``buildParallel``, ``schedule``) are in
:mod:`orchestra.compat.pyexputils.slurm`.
"""

from orchestra.compat.pyexputils.description import Config as Config
from orchestra.compat.pyexputils.description import ExperimentDescription as ExperimentDescription
from orchestra.compat.pyexputils.description import FileSystemContext as FileSystemContext
from orchestra.compat.pyexputils.description import getConfig as getConfig
from orchestra.compat.pyexputils.description import hyphenatedStringify as hyphenatedStringify
from orchestra.compat.pyexputils.description import loadExperiment as loadExperiment
from orchestra.compat.pyexputils.results import Result as Result
from orchestra.compat.pyexputils.results import ResultView as ResultView
from orchestra.compat.pyexputils.results import find as find
from orchestra.compat.pyexputils.results import getBest as getBest
from orchestra.compat.pyexputils.results import listIndices as listIndices
from orchestra.compat.pyexputils.results import listMissingResults as listMissingResults
from orchestra.compat.pyexputils.results import listResultsPaths as listResultsPaths
from orchestra.compat.pyexputils.results import loadResults as loadResults
from orchestra.compat.pyexputils.results import sliceOverParameter as sliceOverParameter
from orchestra.compat.pyexputils.results import splitOverParameter as splitOverParameter
from orchestra.compat.pyexputils.results import whereParameterEquals as whereParameterEquals
from orchestra.compat.pyexputils.results import whereParameterGreaterEq as whereParameterGreaterEq
from orchestra.compat.pyexputils.results import whereParametersEqual as whereParametersEqual
from orchestra.compat.pyexputils.runner import parallel as parallel
from orchestra.compat.pyexputils.slurm import Options as Options
from orchestra.compat.pyexputils.slurm import buildParallel as buildParallel
from orchestra.compat.pyexputils.slurm import flagString as flagString
from orchestra.compat.pyexputils.slurm import fromFile as fromFile
from orchestra.compat.pyexputils.slurm import gigs as gigs
from orchestra.compat.pyexputils.slurm import hours as hours
from orchestra.compat.pyexputils.slurm import schedule as schedule
