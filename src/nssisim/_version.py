"""The package version, in one place (read by the results' attrs and by ``nssisim --version``)."""

__version__ = "0.1.0"
