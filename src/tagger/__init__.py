"""tagger: a multi-label char-CNN tagger for ML projects."""
