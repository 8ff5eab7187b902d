"""Data: download, loading and label building, text cleaning, tokenising, splitting, the DataModule."""
