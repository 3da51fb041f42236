"""PyExpUtils' names: experiment descriptions, save paths and ``config.json``.

``from orchestra.compat.pyexputils import ExperimentDescription, loadExperiment`` replaces
``from PyExpUtils.models.ExperimentDescription import ...``.
"""

from orchestra.compat.pyexputils.description import Config as Config
from orchestra.compat.pyexputils.description import ExperimentDescription as ExperimentDescription
from orchestra.compat.pyexputils.description import FileSystemContext as FileSystemContext
from orchestra.compat.pyexputils.description import getConfig as getConfig
from orchestra.compat.pyexputils.description import hyphenatedStringify as hyphenatedStringify
from orchestra.compat.pyexputils.description import loadExperiment as loadExperiment
