"""Deterministic generator of text corpora for the MapReduce word-count pipeline.

Usage::

    python data/generate_corpus.py --out /tmp/corpus --size-mb 100 --seed 1 --files 4
    python data/generate_corpus.py --out /tmp/big --size-mb 1000 --seed 1 --files 1 --gzip-share 0

The bundled sample corpus was made with::

    python data/generate_corpus.py --out data/sample_corpus --size-mb 1.5 --seed 2026 --files 5 --gzip-share 0.2

The same arguments always give byte-identical files: every random draw comes from one
``random.Random(seed)``, nothing reads the clock, nothing iterates a ``set`` (string hashing is salted per
process), and gzip members are written with ``mtime=0``.

The word rule the text is made to exercise
------------------------------------------
``tasks/word_count.py`` has the exact rule. In short: a word is a maximal run of Unicode letters (L*),
combining marks (M*), decimal digits (Nd) and ``_``, where an apostrophe (``'`` or ``’``) between two word
characters joins them into one word, and words are counted casefolded (``Straße`` is ``STRASSE``) and
NFC-normalized (``e`` + U+0301 is ``é``). Everything else separates words: spaces, hyphens, other punctuation,
symbols, emoji.

What the corpus looks like
--------------------------
* ``--files`` files ``doc-0001.txt``, ``doc-0002.txt``...; ``--gzip-share`` of them (at least one when above 0)
  are written as ``doc-NNNN.txt.gz``. File sizes vary around the mean and total about ``--size-mb`` MiB of
  uncompressed text; each file stops at the end of the paragraph that reaches its size. ``--files 1`` gives one
  big file.
* Words follow a Zipf law (frequency proportional to rank**-1.07) over ``--vocabulary`` word forms, from
  most to least frequent: common English words (``the``, ``I``, ``don't``...), then words built from
  syllables, longer as they get rarer, a few of them capitalised names (``Brena`` and ``brena`` can both
  exist and casefold together). About a hundred and fifty special forms sit at ranks 200 to 8000: together
  about 1.5% of the words, each from about once to a hundred times per MiB. They are accented Latin
  (``café``, ``naïve``, ``Straße``, ``STRASSE``), the same words with decomposed accents (``cafe`` + U+0301),
  Greek with final sigma (``οδός``, ``ΟΔΟΣ``), Cyrillic, CJK runs (``東京大学`` is one word), Thai, Arabic and
  Hebrew with vowel marks, Devanagari, contractions with ``'`` and ``’`` (``l’homme``, ``rock'n'roll``),
  letters with digits (``mp3``, ``21st``) and identifiers (``snake_case``, ``__init__``).
* Prose: sentences of 1 to 45 words, capitalised, ending in ``. ? ! … ...`` and the like, with clause
  punctuation; paragraphs wrapped at 60 to 100 characters and separated by blank lines, sometimes by none,
  several, or a line of spaces or a tab. About one paragraph in a thousand is a single line of several KB.
* At low rates, around words: ALL CAPS and Title Case, hyphenated and dash-joined pairs (``well-known``),
  possessives (``Anna's``, ``James'``), quotes of every kind (``'hello'``, ``‘…’``, ``“…”``, ``«\u00a0…\u00a0»``,
  ``„…“``, ``「…」``), parentheses, numbers (``2026``, ``3.14``, ``1,000``, ``45%``, ``٢٠٢٦``), emoji
  (including ZWJ sequences and skin tones), double spaces and tabs, and phrases such as ``rock 'n' roll``,
  ``the '90s``, ``e.g.``, ``UTF-8``, URLs and e-mail addresses.
* Now and then, instead of prose: headings, bullet and numbered lists, lines of only punctuation
  (``* * *``, ``''``), snippets of code, and paragraphs of Chinese/Japanese (no spaces), Russian, Greek,
  Arabic or Korean.
* ``doc-0001`` starts with a UTF-8 byte order mark, about half of the files (at least one) have some
  paragraphs with CRLF line ends, and the last file ends without a final newline; every other file ends with
  one. With ``--files 1`` the one file has all three.

Tests run the script; ``generate_corpus()`` does the same from Python and returns the paths written.

Output is always valid UTF-8 with no NUL. Emoji never carry the variation selector U+FE0F: it is a combining
mark, so under the word rule it would be a word character. Memory stays small: text is made and written in
blocks of about a MiB.
"""

from __future__ import annotations

import argparse
import gzip
import math
import sys
import time
from array import array
from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate
from operator import getitem
from pathlib import Path
from random import Random

from generator_options import share  # a sibling module: the generators run as python data/<name>.py

ZIPF_EXPONENT = 1.07
DEFAULT_VOCABULARY = 50_000
MIN_VOCABULARY = 1_000
MAX_VOCABULARY = 1_000_000
DEFAULT_FILES = 5

# The sampler resolves probabilities to 2**-24: 2**16 slots of 2**8 entries, two random bytes and one more a word.
SLOT_BITS = 16
ENTRY_BITS = 8
POSITIONS = 1 << (SLOT_BITS + ENTRY_BITS)

# Words drawn at a time, and bytes gathered before a write: big enough for speed, small enough for memory.
BATCH_WORDS = 100_000
WRITE_BLOCK_BYTES = 1 << 20

# Most frequent first; the head of the Zipf law, so that the text reads a little like English.
COMMON_WORDS = (
    "the", "of", "and", "to", "a", "in", "is", "it", "that", "I", "was", "for", "on", "you", "he", "with", "as",
    "be", "at", "by", "this", "not", "but", "from", "or", "have", "they", "she", "we", "an", "his", "her", "had",
    "are", "all", "one", "so", "said", "what", "there", "if", "do", "no", "would", "when", "can", "my", "which",
    "don't", "were", "their", "it's", "out", "up", "about", "will", "into", "time", "then", "them", "I'm", "some",
    "could", "like", "just", "over", "new", "also", "after", "very", "well", "known",
)  # fmt: skip

# Placed at ranks between SPECIAL_RANKS, frequent enough that a MiB of text holds nearly all. Decomposed accents are
# written as escapes: they look the same as the composed words but are other strings.
SPECIAL_WORDS = (
    # accented Latin, composed (NFC); ß casefolds to ss, ﬁ (a ligature, as in text taken from PDFs) to fi
    "café", "naïve", "Straße", "straße", "STRASSE", "Größe", "façade", "señor", "niño", "über", "déjà", "vu",
    "résumé", "crème", "brûlée", "fiancée", "jalapeño", "smörgåsbord", "Zürich", "São", "Paulo", "Kraków", "Łódź",
    "Dvořák", "Ångström", "øre", "œuvre", "æon", "Nguyễn", "İstanbul", "coöperate", "naïveté", "Zoë", "José",
    "Françoise", "Björk", "crêpe", "entrée", "à", "où", "garçon", "ﬁnal", "James", "Charles", "Anna",
    # the same kind of words with decomposed accents (base letter + combining mark)
    "cafe\u0301", "nai\u0308ve", "re\u0301sume\u0301", "Zu\u0308rich", "Sa\u0303o", "man\u0303ana", "Bjo\u0308rk",
    # Greek, with final sigma
    "οδός", "ΟΔΟΣ", "λόγος", "Σωκράτης", "ψυχή", "καλημέρα", "σοφία", "κόσμος", "Αθήνα", "ἀρχή",
    # Cyrillic
    "привет", "мир", "дом", "Москва", "ещё", "объём", "учёный", "Ёлка", "спасибо", "хорошо", "Київ", "Србија",
    # scripts written without spaces: each run is one word
    "東京大学", "日本語", "北京", "学生", "漢字", "中华人民共和国", "ひらがな", "カタカナ", "コンピューター",
    "東京大学の学生", "图书馆", "ภาษาไทย",
    # Korean, Arabic and Hebrew (some with vowel marks), Devanagari (vowel signs and virama are marks)
    "한국어", "서울", "السلام", "عليكم", "كتاب", "كِتَابٌ", "مرحبا", "العربية", "القاهرة", "שלום", "שָׁלוֹם",
    "नमस्ते", "हिन्दी", "क्षत्रिय",
    # letters with digits, identifiers, odd capitalisation
    "mp3", "covid19", "4k", "3d", "h2o", "b2b", "utf8", "1st", "2nd", "21st", "1990s", "x86_64", "ipv6",
    "snake_case", "user_id", "__init__", "_private", "file_name_v2", "max_len", "word_count", "CamelCase",
    "camelCase", "iPhone", "eBay", "McDonald",
    # apostrophes inside words, straight and curly
    "don’t", "can't", "won’t", "it’s", "I’m", "isn't", "you're", "we’ve", "they'd", "o'clock", "l’homme",
    "l'amour", "aujourd’hui", "d'accord", "ma'am", "y'all", "rock'n'roll", "ne'er", "shouldn't've", "O'Brien",
    "D’Angelo",
)  # fmt: skip
SPECIAL_RANKS = (200, 8_000)

# Syllables for the made-up words. A word's syllable count grows with its rank, so frequent words are short.
ONSETS = (
    ("", 12), ("b", 4), ("c", 4), ("d", 5), ("f", 3), ("g", 3), ("h", 4), ("j", 1), ("k", 2), ("l", 5), ("m", 5),
    ("n", 5), ("p", 4), ("r", 5), ("s", 6), ("t", 6), ("v", 2), ("w", 3), ("y", 1), ("z", 1), ("bl", 1), ("br", 1),
    ("ch", 1), ("cl", 1), ("cr", 1), ("dr", 1), ("fl", 1), ("fr", 1), ("gr", 1), ("pl", 1), ("pr", 1), ("sh", 2),
    ("sp", 1), ("st", 2), ("th", 2), ("tr", 1),
)  # fmt: skip
VOWELS = (
    ("a", 8), ("e", 10), ("i", 7), ("o", 7), ("u", 3), ("ai", 1), ("ea", 1), ("ee", 1), ("oo", 1), ("ou", 1), ("y", 1),
)  # fmt: skip
CODAS = (
    ("", 30), ("n", 6), ("r", 6), ("s", 5), ("l", 4), ("m", 2), ("t", 4), ("d", 2), ("ng", 1), ("nd", 1), ("st", 1),
    ("ck", 1), ("x", 0.3), ("rt", 0.5), ("lk", 0.2),
)  # fmt: skip
# Rank thresholds from which made-up words have one more syllable.
SYLLABLE_RANKS = (150, 3_000, 40_000, 400_000)
NAME_SHARE = 0.04  # made-up words that are capitalised names

# Sentence lengths in words, log-normal around 14.
SENTENCE_LENGTHS = tuple(range(1, 46))
SENTENCE_LENGTH_CUM = tuple(
    accumulate(math.exp(-((math.log(n) - math.log(14)) ** 2) / (2 * 0.55**2)) for n in SENTENCE_LENGTHS)
)
SENTENCES_PER_PARAGRAPH = tuple(range(1, 10))
SENTENCES_PER_PARAGRAPH_CUM = tuple(accumulate((10, 18, 20, 17, 12, 9, 6, 4, 2)))
LONG_LINE_SENTENCES = (40, 140)  # a paragraph written as one line of several KB
SENTENCE_ENDS = (
    (".", 80), ("?", 7), ("!", 5), ("…", 2), ("...", 2), ("?!", 0.5), ("!!", 0.5), (":", 1), (";", 1),
    ("\u00a0!", 0.3), (" .", 0.2), (".)", 0.3), ('."', 0.5),
)  # fmt: skip
# At most one clause mark a sentence, after a word in its middle.
CLAUSE_MARKS = (("", 45), (",", 40), (";", 3), (":", 3), (" —", 3), (" –", 1), ("…", 1), (",,", 0.1))
PARAGRAPH_SEPARATORS = (("\n", 70), ("", 20), ("\n\n", 5), ("\n\n\n", 1.5), ("\n \n", 1.5), ("\n\t\n", 1))
INDENTS = (("", 90), ("\t", 3), ("    ", 3), ("— ", 2), ("> ", 1), ("  ", 1))
CRLF_PARAGRAPH_SHARE = 0.02  # in the files that have CRLF line ends at all

# Paragraph kinds, (kind, weight): mostly prose.
PARAGRAPH_KINDS = (
    ("prose", 930),
    ("long_line", 1),
    ("heading", 20),
    ("list", 15),
    ("punctuation", 8),
    ("foreign", 14),
    ("code", 4),
)

PUNCTUATION_LINES = (
    "* * *", "---", "***", "…", "— — —", "~~~", "=====", "#", "!!!", "?!", "§ §", "· · ·", "«»", "(…)", '""',
    "''", "’’", "-- -- --", "...", ". . .", "•",
)  # fmt: skip
BULLETS = ("- ", "* ", "• ", "– ", "> ")
CODE_LINES = (
    "    for word_count in range(max_len):",
    "\tresult = split_words(line, keep_case=False)  # TODO: l’homme, rock'n'roll",
    "def __init__(self, file_name_v2, *, max_len=80):",
    "SELECT user_id, COUNT(*) AS n FROM word_counts GROUP BY user_id;",
    "$ python data/generate_corpus.py --out /tmp/corpus --size-mb 1 --seed 7",
    '{"word": "straße", "count": 1_000, "ok": true, "ratio": 0.25}',
    "x86_64-linux-gnu/libc.so.6: __libc_start_main+0x80",
    "if (!isValid(userId)) { return -1; } // CamelCase vs snake_case",
)
# (words, separator between words, comma, sentence ends); runs of the first kind have no spaces between them.
FOREIGN_LANGUAGES = (
    (
        ("東京大学", "日本語", "学生", "北京", "漢字", "東京", "大阪", "研究", "ひらがな", "カタカナ", "図書館", "今日は",
         "ありがとう", "コンピューター", "ラーメン", "中华人民共和国", "图书馆", "我们", "学习", "汉语", "東京大学の学生"),
        "", "、", ("。", "。", "。", "！", "？"),
    ),
    (
        ("привет", "мир", "дом", "Москва", "ещё", "объём", "учёный", "спасибо", "хорошо", "большой", "город",
         "книга", "читать", "мы", "вы", "они", "сегодня", "завтра", "работа", "жизнь", "и", "в", "не", "на"),
        " ", ",", (".", ".", ".", "!", "?", "…"),
    ),
    (
        ("οδός", "λόγος", "κόσμος", "ψυχή", "σοφία", "καλημέρα", "Αθήνα", "και", "το", "η", "ο", "είναι", "της",
         "φιλοσοφία", "Σωκράτης", "ἀρχή", "πόλις", "ΟΔΟΣ"),
        " ", ",", (".", ".", ".", "\u037e", "!"),
    ),
    (
        ("السلام", "عليكم", "كتاب", "كِتَابٌ", "مرحبا", "العربية", "القاهرة", "في", "من", "على", "هذا", "الكتاب",
         "مدينة", "جميل", "اليوم"),
        " ", "،", (".", ".", ".", "؟", "!"),
    ),
    (
        ("한국어", "서울", "안녕하세요", "감사합니다", "학생", "학교", "오늘", "사람", "책", "읽다", "좋아요"),
        " ", ",", (".", ".", ".", "?", "!"),
    ),
)  # fmt: skip

QUOTES = (
    (("'", "'"), 20), (("‘", "’"), 10), (('"', '"'), 30), (("“", "”"), 20), (("«", "»"), 5),
    (("«\u00a0", "\u00a0»"), 3), (("„", "“"), 3), (("「", "」"), 2), (("(", ")"), 25), (("[", "]"), 3),
    (("*", "*"), 2), (("_", "_"), 1),
)  # fmt: skip
EMOJI = ("🙂", "😀", "😂", "🎉", "🚀", "👍", "👍🏽", "🔥", "✨", "☕", "🇫🇷", "👨\u200d👩\u200d👧", "🤔", "💡")
PHRASES = (
    "rock 'n' roll", "rock ’n’ roll", "fish 'n' chips", "well-known", "state-of-the-art", "e-mail", "mother-in-law",
    "James' car", "the '90s", "'tis", "a.k.a.", "e.g.", "i.e.", "U.S.A.", "Ph.D.", "C++", "C#", ".NET",
    "x86-64", "UTF-8", "https://example.org/wiki/word_count?lang=en#top", "anna.lindqvist@example.com",
    "#hashtag", "@some_handle", "10 km/h", "24/7", "9:30 a.m.", "−40 °C", "½ cup", "12 m²", "H₂O", "n/a",
    "and/or", "A&B", "50–60", "self-evident", "re-enter", "New York-based", "déjà vu", "crème brûlée",
)  # fmt: skip
BYTE_ORDER_MARK = "\ufeff".encode()
ARABIC_INDIC_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH_DIGITS = str.maketrans("0123456789", "０１２３４５６７８９")
ORDINALS = ("1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "30th", "101st")


# ------------------------------------------------------------------------------------------ vocabulary


def pairs_cum(pairs) -> tuple[tuple, tuple[float, ...]]:
    """(value, weight) pairs as the values and their cumulative weights, for rng.choices."""
    values, weights = zip(*pairs, strict=True)
    return values, tuple(accumulate(weights))


ONSET_VALUES, ONSET_CUM = pairs_cum(ONSETS)
VOWEL_VALUES, VOWEL_CUM = pairs_cum(VOWELS)
CODA_VALUES, CODA_CUM = pairs_cum(CODAS)


def made_up_word(rng: Random, syllables: int) -> str:
    onsets = rng.choices(ONSET_VALUES, cum_weights=ONSET_CUM, k=syllables)
    vowels = rng.choices(VOWEL_VALUES, cum_weights=VOWEL_CUM, k=syllables)
    codas = rng.choices(CODA_VALUES, cum_weights=CODA_CUM, k=syllables)
    return "".join(onset + vowel + coda for onset, vowel, coda in zip(onsets, vowels, codas, strict=True))


def build_vocabulary(rng: Random, size: int) -> list[str]:
    """size distinct word forms, from most to least frequent."""
    vocabulary = [""] * size
    vocabulary[: len(COMMON_WORDS)] = COMMON_WORDS
    low, high = SPECIAL_RANKS[0], min(SPECIAL_RANKS[1], size)
    for word in SPECIAL_WORDS:
        # Log-uniform ranks: as many specials among the frequent words as among the rarer ones.
        rank = int(math.exp(rng.uniform(math.log(low), math.log(high))))
        while vocabulary[rank % size]:
            rank += 1  # past the end, this wraps round to the first free rank
        vocabulary[rank % size] = word
    seen = dict.fromkeys(COMMON_WORDS + SPECIAL_WORDS)  # a dict, not a set: see the module docstring
    for rank in range(size):
        if vocabulary[rank]:
            continue
        syllables = 1 + bisect_right(SYLLABLE_RANKS, rank) + (rng.random() < 0.25)
        attempts = 0
        word = made_up_word(rng, syllables)
        while word in seen:
            attempts += 1
            # The short words run out first: move on to longer ones rather than loop.
            word = made_up_word(rng, syllables + attempts // 20)
        if rng.random() < NAME_SHARE:
            word = word.capitalize()
            if word in seen:
                word = word.lower()
        seen[word] = None
        vocabulary[rank] = word
    return vocabulary


class ZipfSampler:
    """Draws word forms with probability proportional to rank**-exponent, a batch at a time, fast.

    Each draw is two table look-ups done in C (map over random bytes): 16 random bits pick one of 2**16 slots, 8
    more pick one of that slot's 256 entries. Every word owns a run of the 2**24 entries, one of its own plus its
    share of the rest, so even the rarest form can be drawn. A slot that lies inside one word's run is that
    word's shared constant tuple, so only the slots on a boundary between words (the rare tail) cost memory.
    """

    def __init__(self, words: list[str], exponent: float):
        cumulative = list(accumulate(rank**-exponent for rank in range(1, len(words) + 1)))
        spare = POSITIONS - len(words)
        # The last bound is exactly POSITIONS: the last running sum is the total, computed the same way.
        bounds = [0] + [index + round(running / cumulative[-1] * spare) for index, running in enumerate(cumulative, 1)]
        slot_size = 1 << ENTRY_BITS
        self.slots: list[tuple[str, ...]] = []
        word = 0
        constant_word, constant = -1, ()
        for slot in range(1 << SLOT_BITS):
            start, end = slot * slot_size, (slot + 1) * slot_size
            while bounds[word + 1] <= start:
                word += 1
            if bounds[word + 1] >= end:
                if constant_word != word:
                    constant_word, constant = word, (words[word],) * slot_size
                self.slots.append(constant)
                continue
            entries: list[str] = []
            position, part = start, word
            while position < end:
                stop = min(bounds[part + 1], end)
                entries += [words[part]] * (stop - position)
                position, part = stop, part + 1
            self.slots.append(tuple(entries))

    def draw(self, rng: Random, count: int) -> list[str]:
        slot_draws = array("H", rng.randbytes(2 * count))
        if sys.byteorder == "big":
            slot_draws.byteswap()  # randbytes is little-endian: the same seed gives the same text on any machine
        return list(map(getitem, map(self.slots.__getitem__, slot_draws), rng.randbytes(count)))


# -------------------------------------------------------------------------------------- around words
# Each takes the batch's tokens and one position and rewrites tokens in place. A token may hold spaces.


def all_caps(rng: Random, tokens: list[str], at: int) -> None:
    tokens[at] = tokens[at].upper()


def title_case(rng: Random, tokens: list[str], at: int) -> None:
    word = tokens[at]
    tokens[at] = word[:1].upper() + word[1:]


def joined_pair(rng: Random, tokens: list[str], at: int) -> None:
    # The second word is another drawn word, so word frequencies keep their law.
    joiner = rng.choices(("-", "—", "–", "/", "-"), weights=(80, 8, 4, 4, 4))[0]
    tokens[at] = tokens[at] + joiner + tokens[rng.randrange(len(tokens))]


def possessive(rng: Random, tokens: list[str], at: int) -> None:
    word = tokens[at]
    apostrophe = "'" if rng.random() < 0.7 else "’"
    tokens[at] = word + apostrophe if word.endswith("s") else word + apostrophe + "s"


def quoted(rng: Random, tokens: list[str], at: int) -> None:
    opening, closing = rng.choices(QUOTE_PAIRS, cum_weights=QUOTE_CUM)[0]
    last = min(at + rng.choice((0, 0, 1, 1, 2, 3, 5)), len(tokens) - 1)
    tokens[at] = opening + tokens[at]
    tokens[last] += closing


def with_number(rng: Random, tokens: list[str], at: int) -> None:
    tokens[at] += " " + random_number(rng)


def random_number(rng: Random) -> str:
    form = rng.randrange(20)
    if form < 5:
        return str(rng.randint(1850, 2035))
    if form < 10:
        return str(rng.randint(0, 120))
    if form == 10:
        return f"{rng.randint(1_000, 9_999_999):,}"
    if form == 11:
        return f"{rng.uniform(0, 100):.{rng.randint(1, 3)}f}"
    if form == 12:
        return f"{rng.randint(1, 100)}%"
    if form == 13:
        return f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}"
    if form == 14:
        return rng.choice(("$", "€", "£", "¥")) + f"{rng.randint(1, 500)}" + rng.choice(("", ".99", ",50"))
    if form == 15:
        return rng.choice(ORDINALS)
    if form == 16:
        return f"{rng.randint(1990, 2030)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if form == 17:
        return str(rng.randint(1900, 2030)).translate(ARABIC_INDIC_DIGITS)
    if form == 18:
        return str(rng.randint(1, 999)).translate(FULLWIDTH_DIGITS)
    return f"{rng.randint(1, 99)},{rng.randint(0, 99):02d}"  # decimal comma


def with_emoji(rng: Random, tokens: list[str], at: int) -> None:
    tokens[at] += rng.choice(("", " ", " ")) + rng.choice(EMOJI)


def wide_space(rng: Random, tokens: list[str], at: int) -> None:
    tokens[at] += rng.choice((" ", " ", "  ", "\t", " \t", "\u00a0"))


def with_phrase(rng: Random, tokens: list[str], at: int) -> None:
    tokens[at] += " " + rng.choice(PHRASES)


# (what happens, how often per word)
WORD_EVENTS: tuple[tuple[Callable[[Random, list[str], int], None], float], ...] = (
    (all_caps, 0.001),
    (title_case, 0.005),
    (joined_pair, 0.004),
    (possessive, 0.003),
    (quoted, 0.005),
    (with_number, 0.006),
    (with_emoji, 0.0008),
    (wide_space, 0.003),
    (with_phrase, 0.001),
)
QUOTE_PAIRS = tuple(pair for pair, _ in QUOTES)
QUOTE_CUM = tuple(accumulate(weight for _, weight in QUOTES))


# ------------------------------------------------------------------------------------------ paragraphs


KINDS, KIND_CUM = pairs_cum(PARAGRAPH_KINDS)
# A sentence's clause mark and end mark, drawn as one pair.
SENTENCE_SHAPES, SENTENCE_SHAPE_CUM = pairs_cum(
    ((clause, end), clause_weight * end_weight)
    for clause, clause_weight in CLAUSE_MARKS
    for end, end_weight in SENTENCE_ENDS
)
SEPARATORS, SEPARATOR_CUM = pairs_cum(PARAGRAPH_SEPARATORS)
INDENT_VALUES, INDENT_CUM = pairs_cum(INDENTS)


def wrap(text: str, width: int) -> list[str]:
    """Cut text at spaces into lines of at most width characters (longer only for a longer word)."""
    lines = []
    start, length = 0, len(text)
    while length - start > width:
        cut = text.rfind(" ", start, start + width + 1)
        if cut <= start:
            cut = text.find(" ", start + width)
            if cut < 0:
                break
        lines.append(text[start:cut])
        start = cut + 1
    lines.append(text[start:])
    return lines


def stochastic_round(rng: Random, value: float) -> int:
    """value rounded up or down at random, so that small rates still add up over many batches."""
    whole = int(value)
    return whole + (rng.random() < value - whole)


def foreign_paragraph(rng: Random) -> str:
    words, separator, comma, ends = rng.choice(FOREIGN_LANGUAGES)
    sentences = []
    for _ in range(rng.randint(1, 3)):
        chosen = rng.choices(words, k=rng.randint(3, 12))
        if separator and rng.random() < 0.7:
            chosen[0] = chosen[0][:1].upper() + chosen[0][1:]
        if len(chosen) > 5:
            chosen[len(chosen) // 2] += comma
        sentences.append(separator.join(chosen) + rng.choice(ends))
    # Chinese and Japanese sentences follow each other without a space.
    return (" " if separator else "").join(sentences)


def list_paragraph(rng: Random, tokens: list[str], start: int) -> tuple[list[str], int]:
    bullet = rng.choice((*BULLETS, "numbered", "lettered"))
    lines = []
    for item in range(rng.randint(2, 6)):
        count = rng.randint(1, 9)
        text = " ".join(tokens[start : start + count])
        start += count
        if bullet == "numbered":
            prefix = f"{item + 1}. "
        elif bullet == "lettered":
            prefix = f"({'abcdef'[item]}) "
        else:
            prefix = bullet
        lines.append(prefix + text[:1].upper() + text[1:] + rng.choice(("", "", ";", ".", ",")))
    return lines, start


def heading(rng: Random, tokens: list[str], start: int) -> tuple[str, int]:
    count = rng.randint(1, 6)
    words = tokens[start : start + count]
    style = rng.randrange(6)
    if style == 0:
        text = " ".join(words).upper()
    elif style == 1:
        text = "# " + " ".join(w[:1].upper() + w[1:] for w in words)
    elif style == 2:
        text = f"Chapter {rng.randint(1, 40)}: " + " ".join(words)
    elif style == 3:
        text = f"{rng.choice(('CHAPTER', 'PART', 'BOOK'))} {rng.choice(('I', 'II', 'IV', 'IX', 'XII', 'XL'))}"
    else:
        text = " ".join(w[:1].upper() + w[1:] for w in words)
    return text, start + count


class ArgumentError(ValueError):
    """An argument out of range; the command line reports it as a usage error."""


class CorpusWriter:
    """Streams text to a .txt or a deterministic .txt.gz, counting uncompressed bytes and lines."""

    def __init__(self, path: Path, compress: bool):
        self.raw = path.open("wb")
        # mtime=0 and a fixed inner name make the gzip bytes depend on the content only.
        self.out = (
            gzip.GzipFile(filename=path.name[:-3], mode="wb", fileobj=self.raw, mtime=0, compresslevel=6)
            if compress
            else self.raw
        )
        self.bytes = 0
        self.lines = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)
        self.lines += data.count(b"\n")
        self.out.write(data)

    def close(self) -> None:
        if self.out is not self.raw:
            self.out.close()
        self.raw.close()


def paragraphs(rng: Random, sampler: ZipfSampler, crlf_share: float):
    """Yield paragraphs without end, each with its line ends and the separator after it."""
    while True:
        yield from paragraph_batch(rng, sampler, crlf_share)


def paragraph_batch(rng: Random, sampler: ZipfSampler, crlf_share: float) -> list[str]:
    """About BATCH_WORDS words of text as a list of paragraphs."""
    count = BATCH_WORDS // 60
    kinds = rng.choices(KINDS, cum_weights=KIND_CUM, k=count)
    sentence_counts = rng.choices(SENTENCES_PER_PARAGRAPH, cum_weights=SENTENCES_PER_PARAGRAPH_CUM, k=count)
    for index, kind in enumerate(kinds):
        if kind == "long_line":
            sentence_counts[index] = rng.randint(*LONG_LINE_SENTENCES)
        elif kind != "prose":
            sentence_counts[index] = 0
    sentences = sum(sentence_counts)
    lengths = rng.choices(SENTENCE_LENGTHS, cum_weights=SENTENCE_LENGTH_CUM, k=sentences)
    shapes = rng.choices(SENTENCE_SHAPES, cum_weights=SENTENCE_SHAPE_CUM, k=sentences)
    middles = [rng.random() for _ in range(sentences)]
    # Prose takes the first words in order; headings and lists take theirs from the rest, at most 60 each.
    sentence_bounds = [0, *accumulate(lengths)]
    tokens = sampler.draw(rng, sentence_bounds[-1] + 60 * (count - kinds.count("prose") - kinds.count("long_line")))
    for event, rate in WORD_EVENTS:
        for at in rng.sample(range(len(tokens)), stochastic_round(rng, len(tokens) * rate)):
            event(rng, tokens, at)
    word = 0
    for length, (clause, end), middle in zip(lengths, shapes, middles, strict=True):
        first = tokens[word]
        tokens[word] = first[:1].upper() + first[1:]
        if clause and length > 4:
            tokens[word + 1 + int(middle * (length - 3))] += clause
        word += length
        tokens[word - 1] += end

    separators = rng.choices(SEPARATORS, cum_weights=SEPARATOR_CUM, k=count)
    indents = rng.choices(INDENT_VALUES, cum_weights=INDENT_CUM, k=count)
    widths = [rng.randint(60, 100) for _ in range(count)]
    crlf = [rng.random() < crlf_share for _ in range(count)] if crlf_share else [False] * count
    out = []
    sentence = 0
    for kind, sentence_count, separator, indent, width, windows in zip(
        kinds, sentence_counts, separators, indents, widths, crlf, strict=True
    ):
        if kind in ("prose", "long_line"):
            text = indent + " ".join(tokens[sentence_bounds[sentence] : sentence_bounds[sentence + sentence_count]])
            sentence += sentence_count
            lines = [text] if kind == "long_line" else wrap(text, width)
        elif kind == "heading":
            text, word = heading(rng, tokens, word)
            lines, separator = [text], "\n"  # a heading always stands apart
        elif kind == "list":
            lines, word = list_paragraph(rng, tokens, word)
        elif kind == "punctuation":
            lines = [rng.choice(PUNCTUATION_LINES)]
        elif kind == "foreign":
            lines = wrap(foreign_paragraph(rng), width)
        else:
            lines = rng.sample(CODE_LINES, rng.randint(1, 3))
        line_end = "\r\n" if windows else "\n"
        out.append(line_end.join(lines) + line_end + separator.replace("\n", line_end))
    return out


# ---------------------------------------------------------------------------------------------- files


def generate_corpus(
    out: Path,
    size_mb: float,
    seed: int,
    files: int = DEFAULT_FILES,
    gzip_share: float = 0.0,
    vocabulary: int = DEFAULT_VOCABULARY,
) -> list[Path]:
    """Write the corpus into out (created if missing) and return the paths written, in order."""
    return [path for path, _, _ in write_corpus(out, size_mb, seed, files, gzip_share, vocabulary)]


def write_corpus(
    out: Path, size_mb: float, seed: int, files: int, gzip_share: float, vocabulary: int
) -> list[tuple[Path, int, int]]:
    """Write the corpus; return (path, uncompressed bytes, lines) for each file."""
    if files < 1 or size_mb <= 0:
        raise ArgumentError("--files and --size-mb must be positive")
    if not MIN_VOCABULARY <= vocabulary <= MAX_VOCABULARY:
        raise ArgumentError(f"--vocabulary must be between {MIN_VOCABULARY} and {MAX_VOCABULARY}")
    if not 0 <= gzip_share <= 1:
        raise ArgumentError("--gzip-share must be between 0 and 1")
    rng = Random(seed)
    sampler = ZipfSampler(build_vocabulary(rng, vocabulary), ZIPF_EXPONENT)
    shares = [rng.uniform(0.6, 1.4) for _ in range(files)]
    targets = [size_mb * 2**20 * share / sum(shares) for share in shares]
    gzip_count = min(files, max(1, round(files * gzip_share))) if gzip_share > 0 else 0
    gzipped = set(rng.sample(range(files), gzip_count))
    with_crlf = set(rng.sample(range(files), max(1, round(files / 2))))

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for index, target in enumerate(targets):
        path = out / (f"doc-{index + 1:04d}.txt" + (".gz" if index in gzipped else ""))
        writer = CorpusWriter(path, compress=index in gzipped)
        text = paragraphs(rng, sampler, CRLF_PARAGRAPH_SHARE if index in with_crlf else 0.0)
        pending = [BYTE_ORDER_MARK] if index == 0 else []
        pending_bytes = done = len(BYTE_ORDER_MARK) if index == 0 else 0
        while done < target:
            if pending_bytes >= WRITE_BLOCK_BYTES:
                writer.write(b"".join(pending))
                pending, pending_bytes = [], 0
            paragraph = next(text).encode()
            pending.append(paragraph)
            pending_bytes += len(paragraph)
            done += len(paragraph)
        if index == files - 1:
            # The pending block holds at least the last paragraph, so this strips the end of the file.
            pending[-1] = pending[-1].rstrip()
        writer.write(b"".join(pending))
        writer.close()
        written.append((path, writer.bytes, writer.lines))
    return written


# ----------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Same arguments, same bytes. See the module docstring for details.",
    )
    parser.add_argument(
        "--out", type=Path, required=True, help="directory to write the files into (created if missing)"
    )
    parser.add_argument("--size-mb", type=float, required=True, help="total uncompressed size in MiB")
    parser.add_argument("--seed", type=int, required=True, help="random seed")
    parser.add_argument("--files", type=int, default=DEFAULT_FILES, help=f"number of files (default {DEFAULT_FILES})")
    parser.add_argument(
        "--gzip-share",
        type=share,
        default=0.0,
        help="share of files written as .txt.gz; at least one when above 0 (default 0)",
    )
    parser.add_argument(
        "--vocabulary",
        type=int,
        default=DEFAULT_VOCABULARY,
        help=f"number of word forms, {MIN_VOCABULARY} to {MAX_VOCABULARY} (default {DEFAULT_VOCABULARY})",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    try:
        written = write_corpus(args.out, args.size_mb, args.seed, args.files, args.gzip_share, args.vocabulary)
    except ArgumentError as error:
        parser.error(str(error))
    elapsed = time.perf_counter() - started
    for path, size, lines in written:
        print(f"{path}: {lines} lines, {size / 2**20:.2f} MiB uncompressed")
    # Files from an earlier run with other arguments would be read alongside these ones.
    names = {path.name for path, _, _ in written}
    for stale in sorted(p.name for p in args.out.glob("doc-*.txt*") if p.name not in names):
        print(f"warning: {args.out / stale} is not from this run; delete it if it should not be read", file=sys.stderr)
    mib = sum(size for _, size, _ in written) / 2**20
    print(f"{len(written)} files, {mib:.2f} MiB in {elapsed:.1f} s ({mib / elapsed:.0f} MiB/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
