"""The word rule computed independently of the pipeline: character by character with Python's unicodedata, and
collections.Counter, no Polars and no regular expressions.

Python 3.11's unicodedata is Unicode 14; Polars' regex tables are newer, so the two disagree on the characters
assigned since (all unassigned in Unicode 14). The generated corpora use none of them.
"""

import gzip
import unicodedata
from collections import Counter
from pathlib import Path

from warehouse_snapshot import query

from tasks.observability.audit import run_checks, warehouse_checks
from tasks.warehouse.connection import open_warehouse

APOSTROPHES = "'’"


def is_word_character(character: str) -> bool:
    category = unicodedata.category(character)
    return category[0] in "LM" or category == "Nd" or character == "_"


def words_of_line(line: str) -> list[str]:
    """The words of one line, by the rule: runs of word characters, joined by an apostrophe between two of them;
    each casefolded, NFC-normalized, ’ written as '."""
    found, current = [], []
    for position, character in enumerate(line):
        following = line[position + 1] if position + 1 < len(line) else ""
        joins_two_word_characters = character in APOSTROPHES and current and following and is_word_character(following)
        if is_word_character(character) or joins_two_word_characters:
            current.append(character)
        elif current:
            found.append("".join(current))
            current = []
    if current:
        found.append("".join(current))
    return [unicodedata.normalize("NFC", word.casefold()).replace("’", "'") for word in found]


def lines_of(path: Path) -> list[str]:
    data = path.read_bytes()
    if path.name.endswith(".gz"):
        data = gzip.decompress(data)
    text = data.decode("utf-8")
    lines = text.split("\n")
    return lines[:-1] if text.endswith("\n") else lines


def count_words(paths: list[Path]) -> Counter:
    counts = Counter()
    for path in paths:
        for line in lines_of(path):
            counts.update(words_of_line(line))
    return counts


def document_frequency(paths: list[Path]) -> Counter:
    documents = Counter()
    for path in paths:
        documents.update({word for line in lines_of(path) for word in words_of_line(line)})
    return documents


def corpus_files(folder: Path) -> list[Path]:
    return sorted([*folder.glob("*.txt"), *folder.glob("*.txt.gz")])


def assert_matches_independent_computation(files: list[Path], warehouse: Path) -> None:
    """word_counts, doc_freq, the documents and the ledger equal the independent computation over `files`."""
    assert Counter(dict(query(warehouse, "select word, count from wordcount.word_counts"))) == count_words(files)
    assert Counter(dict(query(warehouse, "select word, documents from wordcount.doc_freq"))) == document_frequency(
        files
    )
    assert query(warehouse, "select count(*) from wordcount.word_counts where count <= 0") == [(0,)]
    expected_documents = sorted(
        (str(path.resolve()), len(lines_of(path)), sum(count_words([path]).values())) for path in files
    )
    assert (
        query(warehouse, "select source, lines, words from wordcount.documents order by source") == expected_documents
    )
    assert query(
        warehouse,
        "select source, rows_in, rows_loaded, rows_rejected from meta.batches "
        "where pipeline = 'word_count' and status = 'loaded' order by source",
    ) == [(source, lines, lines, 0) for source, lines, _ in expected_documents]
    with open_warehouse(warehouse) as connection:
        failed = [result for result in run_checks(connection, warehouse_checks()) if not result.passed]
    assert failed == []
