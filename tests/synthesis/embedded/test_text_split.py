from __future__ import annotations

from synthesis.embedded.text_split import split_for_synthesis


def test_sentences_are_pieces() -> None:
    assert split_for_synthesis("Hello there. How are you?\n\nFine!") == ["Hello there.", "How are you?", "Fine!"]


def test_long_first_sentence_is_cut_at_a_clause() -> None:
    text = ("This is a much longer sentence that keeps going, with a few clauses, some commas, and quite a lot of "
            "words to say before it ends. Short one!")
    pieces = split_for_synthesis(text, first_max_chars=50)
    assert pieces[0] == "This is a much longer sentence that keeps going,"
    assert pieces[-1] == "Short one!"
    assert " ".join(pieces) == " ".join(text.split())


def test_text_without_punctuation_is_cut_between_words() -> None:
    text = " ".join(["palavra"] * 100)
    pieces = split_for_synthesis(text, first_max_chars=40, max_chars=100)
    assert all(len(p) <= 100 for p in pieces) and len(pieces[0]) <= 40
    assert " ".join(pieces) == text


def test_blank_text_has_no_pieces() -> None:
    assert split_for_synthesis("  \n ") == []


def test_opening_piece_is_cut_at_the_first_clause() -> None:
    pieces = split_for_synthesis("Hello everyone, welcome to today's stream.", first_max_chars=28)
    assert pieces == ["Hello everyone,", "welcome to today's stream."]
    assert split_for_synthesis("Olá, pessoal! Sejam bem-vindos.", first_max_chars=28) == ["Olá, pessoal!",
                                                                                         "Sejam bem-vindos."]
