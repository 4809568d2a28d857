"""One alert's broadcast media: the layer between ``render``/``broadcast`` and ``handlers``.

``stage.MediaStage`` implements the handlers' ``Stage`` contract (``contract``): it walks the degradation
ladder (``ladder``), picks the picture of each rung (``picture``), starts the speech (``speech``) and hands a
``job.Job`` to one ``profiles.ProfileWriter`` per output profile (``ts``, ``dash``, ``richmedia``); each
returns a typed ``outputs`` value, and ``result`` writes (and reads back) ``result.json``. ``cli`` is
``cinealert render``. This package imports ``config``, ``cap``, ``render`` and ``broadcast``, never
``handlers`` or ``daemon``; importing it is cheap (PyAV, torch and the renderer load on first use).
"""
