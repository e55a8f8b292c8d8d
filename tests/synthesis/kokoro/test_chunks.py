from __future__ import annotations

from synthesis.kokoro.chunks import FIRST_MAX_CHARS, FIRST_MAX_WORDS, GROWTH, MAX_CHARS, kokoro_pieces

SENTENCE = ("Amanhã cedo a equipe vai revisar o relatório inteiro, corrigir os números da tabela e enviar tudo ao "
            "cliente antes do almoço de sexta.")


def test_pieces_keep_every_word_in_order() -> None:
    for stream_start in (True, False):
        pieces = kokoro_pieces(SENTENCE, stream_start=stream_start)
        assert " ".join(pieces).split() == SENTENCE.split()


def test_stream_opens_with_a_few_words_not_ending_on_a_joiner() -> None:
    first = kokoro_pieces(SENTENCE, stream_start=True)[0]
    assert len(first.split()) <= FIRST_MAX_WORDS and len(first) <= FIRST_MAX_CHARS
    assert first == "Amanhã cedo"  # "a" would leave the phrase hanging


def test_first_piece_stops_at_a_clause_break() -> None:
    assert kokoro_pieces("Olá, pessoal! Tudo bem?", stream_start=True)[0] == "Olá,"


def test_later_pieces_grow_but_stay_bounded() -> None:
    long_text = " ".join(["palavra"] * 120)
    pieces = kokoro_pieces(long_text, stream_start=True)
    lengths = [len(p) for p in pieces]
    assert all(n <= MAX_CHARS for n in lengths)
    for before, after in zip(lengths[1:], lengths[2:], strict=False):
        assert after <= max(GROWTH * before, MAX_CHARS) + len("palavra")
    assert lengths[2] > lengths[0]


def test_one_word_sentence() -> None:
    assert kokoro_pieces("Obrigado.", stream_start=True) == ["Obrigado."]
    assert kokoro_pieces("", stream_start=True) == []
