"""Synthetic council histories, calibrated to DfE's published figures (``council``)."""
