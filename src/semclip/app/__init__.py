"""The applications: the ``semclip`` commands (demo, train, eval, transmit, serve, report) and
their experiment files. They use the library (``semclip.backbones`` ... ``semclip.eval``,
``semclip.baselines``); the library never imports them."""
