"""Quality measured against hand-written gold data with the real pipeline (python -m eval.extraction)."""
