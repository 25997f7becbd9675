"""Word count and its inverted index, as one MapReduce job over text files.

The rule for words (also in docs/word-count.md):
1. Text is UTF-8, read line by line; a word never spans lines.
2. A word is a maximal run of word characters: Unicode letters (general category L), combining marks (M),
   decimal digits (Nd) and the underscore. An apostrophe (' U+0027 or ’ U+2019) with a word character on both
   sides joins them into one word ("don't", "l’homme"); anywhere else it separates, as does everything else:
   spaces, hyphens, other punctuation, symbols, emoji.
3. A word is counted as its casefolded (Python's `str.casefold`, so "Straße" and "STRASSE" are "strasse"),
   NFC-normalized form (so "é" typed as e + U+0301 is the same word as "é"), with ’ written as ' (so "don’t" is
   "don't").
Character classes come from the Unicode tables of Polars' regex engine.
"""

import unicodedata

import polars as pl

from tasks.core.mapreduce import MapReduceJob, Split
from tasks.core.staging import code_version
from tasks.pipelines import pipeline_of

PIPELINE = pipeline_of(__name__)
CORPUS_FILES = ("*.txt", "*.txt.gz")

_WORD_CHARACTER = r"[\p{L}\p{M}\p{Nd}_]"
WORD = rf"{_WORD_CHARACTER}+(?:['’]{_WORD_CHARACTER}+)*"


def normalize_word(token: str) -> str:
    return unicodedata.normalize("NFC", token.casefold()).replace("’", "'")


def tokens(lines: pl.Series) -> pl.Series:
    """Every match of the word pattern in `lines`, in order, as written."""
    return lines.str.extract_all(WORD).explode().drop_nulls().rename("token")


def normalize(tokens: pl.Series) -> pl.Series:
    """Each token's counted form: casefolded, NFC-normalized, ’ written as '."""
    # An ASCII token's normal form is its lower case, which Polars computes; only the others need Python's casefold,
    # once per distinct token.
    lowered = tokens.str.to_lowercase().rename("word")
    beyond_ascii = (tokens.str.len_bytes() != tokens.str.len_chars()).arg_true()
    if beyond_ascii.is_empty():
        return lowered
    unusual = tokens.gather(beyond_ascii)
    distinct = unusual.unique()
    folded = pl.Series([normalize_word(token) for token in distinct.to_list()], dtype=pl.String)
    return lowered.scatter(beyond_ascii, unusual.replace_strict(distinct, folded, return_dtype=pl.String))


def words(lines: pl.Series) -> pl.Series:
    """Every word of `lines`, in order, casefolded and NFC-normalized."""
    return normalize(tokens(lines))


def map_words(lines: pl.DataFrame, split: Split) -> pl.DataFrame:
    """(word, source, count = 1) for every word of the lines."""
    return (
        words(lines.get_column("raw"))
        .to_frame()
        .with_columns(source=pl.lit(split.batch.source, dtype=pl.String), count=pl.lit(1, dtype=pl.Int64))
    )


def map_and_combine_words(lines: pl.DataFrame, split: Split) -> tuple[pl.DataFrame, int]:
    """What `combine_in_split(map_words(lines, split))` holds, and how many words the map emits, without a row per
    word beyond the tokens themselves: as the one-query word count does, the tokens are counted as written (one
    streaming query, on every core), and only the distinct ones are normalized and added up by their normal form
    ("Straße" and "STRASSE")."""
    token_counts = (
        lines.lazy()
        .select(pl.col("raw").str.extract_all(WORD).alias("token"))
        .explode("token")
        .drop_nulls("token")  # a line without words explodes to one null
        .group_by("token")
        .agg(pl.len().cast(pl.Int64).alias("count"))
        .collect(engine="streaming")
    )
    combined = (
        token_counts.select(normalize(token_counts.get_column("token")), "count")
        .group_by("word")
        .agg(pl.col("count").sum())
        .with_columns(source=pl.lit(split.batch.source, dtype=pl.String))
    )
    return combined, int(token_counts.get_column("count").sum())


def count_per_document(rows: pl.LazyFrame) -> pl.LazyFrame:
    """One row per word and document, with the word's occurrences in it: the inverted index."""
    return rows.group_by("word", "source").agg(pl.col("count").sum())


def combine_in_split(rows: pl.DataFrame) -> pl.DataFrame:
    """Per word, its occurrences in rows of one split, which all have the same source: grouping by the word alone
    gives what `count_per_document` would, at a fraction of the cost. Its output combines again alike."""
    return rows.group_by("word").agg(pl.col("count").sum(), pl.col("source").first())


def count_per_word(rows: pl.LazyFrame) -> pl.LazyFrame:
    """One row per word, with its occurrences in every document: the word count."""
    return rows.group_by("word").agg(pl.col("count").sum())


# A long line may be cut after any ASCII character that is not a word character nor the apostrophe: every other
# ASCII byte ends a word on both sides, so the pieces hold the same words as the line.
SEPARATORS = bytes(byte for byte in range(128) if not (chr(byte).isalnum() or chr(byte) in "_'\n"))

WORD_COUNT_JOB = MapReduceJob(
    name=PIPELINE,
    key="word",
    map_schema={"word": pl.String, "source": pl.String, "count": pl.Int64},
    map_lines=map_words,
    combine=combine_in_split,
    map_and_combine=map_and_combine_words,
    reducers={"word_counts": count_per_word, "postings": count_per_document},
    cut_long_lines_after=SEPARATORS,
    version=code_version("tasks.pipelines.word_count.source", "tasks.core.mapreduce", "tasks.core.reading"),
)
