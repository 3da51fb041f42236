"""The sweep service: prepare and run a sweep (:mod:`~orchestra.service.session`), serve its control
socket (:mod:`~orchestra.service.server`), talk to it (:mod:`~orchestra.service.client`), and run it
detached from any terminal (:mod:`~orchestra.service.daemon`)."""
