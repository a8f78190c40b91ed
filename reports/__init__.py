"""The monthly scrutiny report."""
