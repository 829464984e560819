"""bulkpatch: apply a sheet of per-campaign changes to the Sarvam Scheduling API."""

__version__ = "0.1.0"
