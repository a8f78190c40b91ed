"""Data in from council systems and out to DfE: mapping files, the import engine, pseudonyms.

May import only ``events`` and ``projections`` (the import-linter layers in pyproject.toml).
"""
