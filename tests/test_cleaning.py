from tagger.data.cleaning import TextCleaning, english_stopwords


def test_stopwords_are_nltks_179_english_words():
    words = english_stopwords()
    assert len(words) == len(set(words)) == 179
    assert {"the", "a", "of", "wouldn't", "ourselves"} <= set(words)


def test_default_cleaning_follows_the_seed():
    text = "The Transformers-based NLP model, for Text Classification!"
    assert TextCleaning()(text) == "transformers based nlp model text classification"


def test_links_are_removed():
    assert "http" not in TextCleaning()("code at https://github.com/x/y now")


def test_each_step_can_be_switched_off():
    assert TextCleaning(lower=False, remove_stopwords=False)("The Model") == "The Model"
    kept = TextCleaning(remove_punctuation=False, alphanumeric_only=False)("gan-net cnn!")
    assert kept == "gan - net cnn !"


def test_stemming_is_optional():
    assert TextCleaning(stem=True)("running models") == "run model"
    assert TextCleaning()("running models") == "running models"
