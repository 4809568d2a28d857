"""cinealert: CAP emergency alerts turned into accessible, animated broadcast video.

Importing the package stays cheap (no torch, no PyAV): heavy libraries are imported lazily by the stages that
need them, so `cinealert validate` and `cinealert classify` start in well under a second.
"""

__version__ = "0.1.0"
