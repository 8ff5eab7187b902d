from tagger.data.tokenizer import OOV, PAD, Tokenizer


def test_char_tokenizer_reserves_padding_and_oov():
    tok = Tokenizer.fit(["abc", "cab"])
    assert tok.vocab[:2] == [PAD, OOV] and len(tok) == 5
    assert tok.encode("abz") == [tok.index["a"], tok.index["b"], 1]
    assert 0 not in tok.encode("cab")


def test_word_level_splits_on_spaces():
    tok = Tokenizer.fit(["deep nets", "nets"], level="word")
    assert tok.vocab == [PAD, OOV, "deep", "nets"]
    assert tok.encode("nets rock") == [3, 1]


def test_json_round_trip(tmp_path):
    tok = Tokenizer.fit(["héllo wörld"])
    tok.save(tmp_path / "tok.json")
    loaded = Tokenizer.load(tmp_path / "tok.json")
    assert loaded.vocab == tok.vocab and loaded.level == "char"
    assert loaded.encode("wörld") == tok.encode("wörld")
