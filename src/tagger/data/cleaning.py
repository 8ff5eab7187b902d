"""Text cleaning, step for step as the seed lesson does it, each step switchable."""

import re
from dataclasses import dataclass, replace
from functools import cached_property
from importlib.resources import files


def english_stopwords() -> list[str]:
    """NLTK's 179 English stopwords, shipped as package data since the NLTK corpus needs a download."""
    return (files("tagger.data") / "stopwords.txt").read_text().split()


@dataclass(frozen=True)
class TextCleaning:
    """Which cleaning steps run; applied in the seed's order (so links go last, after punctuation)."""

    lower: bool = True
    remove_stopwords: bool = True
    separate_punctuation: bool = True
    remove_punctuation: bool = True
    alphanumeric_only: bool = True
    remove_links: bool = True
    stem: bool = False

    @cached_property
    def _stopword_pattern(self) -> re.Pattern[str]:
        return re.compile(r"\b(" + "|".join(english_stopwords()) + r")\b\s*")

    @cached_property
    def _stemmer(self):  # nltk is imported only when stemming is asked for
        from nltk.stem import PorterStemmer

        return PorterStemmer()

    def __call__(self, text: str) -> str:
        if self.lower:
            text = text.lower()
        if self.remove_stopwords:
            text = self._stopword_pattern.sub("", text)
        if self.separate_punctuation:
            text = re.sub(r"([-;.,!?<=>])", r" \1 ", text)
        if self.remove_punctuation:
            text = re.sub(r"[!\"'#$%&()*+,\-./:;<=>?@\\\[\]^_`{|}~]", "", text)
        if self.alphanumeric_only:
            text = re.sub("[^A-Za-z0-9]+", " ", text)
        text = re.sub(" +", " ", text).strip()
        if self.remove_links:
            text = re.sub(r"http\S+", "", text)
        if self.stem:
            text = " ".join(self._stemmer.stem(word, to_lowercase=self.lower) for word in text.split(" "))
        return text

    def emptied(self, text: str) -> str:
        """Why ``text`` cleans to nothing: the step whose removal would leave words, else what the text lacks."""
        if self.remove_stopwords and replace(self, remove_stopwords=False)(text):
            return "stopword removal left nothing: the text has only words such as 'the', 'a', 'of'"
        if self.remove_links and replace(self, remove_links=False)(text):
            return "link removal left nothing: the text is only a link"
        return "no Latin letters or digits"
