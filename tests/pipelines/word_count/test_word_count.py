"""The word rule and the MapReduce step, as plain functions: no Prefect server, no warehouse."""

import random
from collections import Counter
from pathlib import Path

import polars as pl
import pytest
from flow_process import generate_corpus
from independent_word_count import corpus_files, count_words, document_frequency, lines_of, words_of_line
from polars.testing import assert_frame_equal

from tasks.core import settings
from tasks.core.batches import make_batch
from tasks.core.mapreduce import (
    MapCounters,
    _read_ahead,
    counters_of_run,
    job_directory,
    plan_splits,
    read_map_manifest,
    remove_run_files,
    run_map,
    run_reducers,
    shuffle,
)
from tasks.core.reading import BatchDataError
from tasks.pipelines.word_count.source import (
    PIPELINE,
    WORD_COUNT_JOB,
    combine_in_split,
    map_and_combine_words,
    map_words,
    words,
)

PROJECT_ROOT = Path(__file__).resolve().parents[3]
SAMPLE_CORPUS = PROJECT_ROOT / "data" / "sample_corpus"

# Expected words worked out by hand from the rule in tasks/pipelines/word_count/source.py.
EDGE_CASES = {
    "contraction": ("Don't stop", ["don't", "stop"]),
    "typographic apostrophe": ("l’homme D’Artagnan", ["l'homme", "d'artagnan"]),
    "apostrophes around words": ("'hello' rock 'n' roll", ["hello", "rock", "n", "roll"]),
    "possessive plural": ("James' book", ["james", "book"]),
    "doubled apostrophe": ("don''t", ["don", "t"]),
    "hyphens separate": ("well-known state-of-the-art", ["well", "known", "state", "of", "the", "art"]),
    "numbers": ("3.14 1,000 2026", ["3", "14", "1", "000", "2026"]),
    "underscores join": ("snake_case __init__ a-b_c", ["snake_case", "__init__", "a", "b_c"]),
    "sharp s casefolds": ("Straße STRASSE", ["strasse", "strasse"]),
    "accents, composed or not": ("café cafe\u0301 CAFÉ", ["café", "café", "café"]),
    "greek final sigma": ("ΟΔΟΣ οδός", ["οδοσ", "οδόσ"]),
    "cjk runs are one word": ("東京大学に行く 東京 大学", ["東京大学に行く", "東京", "大学"]),
    "cyrillic": ("Привет, МИР!", ["привет", "мир"]),
    "arabic with its digits": ("مرحبا ٣ apples", ["مرحبا", "٣", "apples"]),
    "other numerals separate": ("x² ½ Ⅻ", ["x"]),
    "dotted capital i": ("İstanbul", ["i\u0307stanbul"]),
    "ligature": ("ﬁne", ["fine"]),
    "emoji and symbols": ("emoji 😀 here €5 #tag @me", ["emoji", "here", "5", "tag", "me"]),
    "whitespace": ("tab\tsep  double\u00a0nbsp", ["tab", "sep", "double", "nbsp"]),
    "byte order mark and carriage return": ("\ufeffBOM start\r", ["bom", "start"]),
    "punctuation only": ("…—«»()\"';:!?", []),
    "empty": ("", []),
}


@pytest.mark.parametrize(("line", "expected"), EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_words_follow_the_documented_rule(line, expected):
    assert words(pl.Series([line])).to_list() == expected
    assert words_of_line(line) == expected  # the independent implementation agrees on the hand-worked cases


def test_words_agree_with_the_independent_rule_on_random_tricky_text():
    alphabet = list("aZé_'’- .,\t\r") + ["\u0301", "ß", "Σ", "東", "٣", "²", "😀", "İ", "ﬁ", "\ufeff", "0"]
    rng = random.Random(4)
    lines = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(3000)]
    assert words(pl.Series(lines)).to_list() == [word for line in lines for word in words_of_line(line)]


def test_the_map_and_combiner_in_one_pass_give_the_rows_and_counts_of_the_two_steps(tmp_path):
    alphabet = list("aAzZé_'’- .\t") + ["\u0301", "ß", "SS", "Σ", "ς", "東", "İ", "ﬁ", "’t"]
    rng = random.Random(7)
    lines = pl.DataFrame(
        {"raw": ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30))) for _ in range(5000)]}
    )
    path = tmp_path / "doc.txt"
    path.write_text("")
    [split] = plan_splits([make_batch(PIPELINE, path)], 1 << 20)

    mapped = map_words(lines, split)
    combined, emitted = map_and_combine_words(lines, split)

    expected = Counter(word for line in lines.get_column("raw").to_list() for word in words_of_line(line))
    assert emitted == mapped.height == sum(expected.values())
    two_steps = combine_in_split(mapped).select("word", "source", "count").sort("word")
    assert_frame_equal(combined.select("word", "source", "count").sort("word"), two_steps)
    assert dict(combined.select("word", "count").iter_rows()) == expected


def test_the_sample_corpus_covers_the_rule_s_edge_cases():
    text = "\n".join(line for path in corpus_files(SAMPLE_CORPUS) for line in lines_of(path))
    for feature in ["’", "'", "-", "ß", "\u0301", "ς", "東", "\r", "\ufeff", "_"]:
        assert feature in text, f"the sample corpus lacks {feature!r}"
    assert len(corpus_files(SAMPLE_CORPUS)) >= 3
    assert any(path.name.endswith(".gz") for path in corpus_files(SAMPLE_CORPUS))


def mapreduce(files, work_root, partitions=3, combine=True, split_bytes=1 << 30, chunk_bytes=1 << 20):
    """Run the word-count job over `files` with the plain functions; return (word counts, postings, counters)."""
    batches = [make_batch(PIPELINE, path) for path in files]
    splits = plan_splits(batches, split_bytes)
    outputs = [run_map(split, WORD_COUNT_JOB, work_root, partitions, combine, chunk_bytes) for split in splits]
    shuffled = shuffle(outputs, job_directory(work_root, WORD_COUNT_JOB, partitions, combine), partitions)
    reduced = [
        output
        for partition in shuffled.partitions_to_reduce
        for output in run_reducers(WORD_COUNT_JOB, partition, shuffled)
    ]
    by_reducer = {
        reducer: pl.concat([pl.read_parquet(output.path) for output in reduced if output.reducer == reducer])
        for reducer in WORD_COUNT_JOB.reducers
    }
    word_counts = Counter(dict(by_reducer["word_counts"].iter_rows()))
    postings = Counter({(word, source): count for word, source, count in by_reducer["postings"].iter_rows()})
    return word_counts, postings, counters_of_run(shuffled, reduced), shuffled


@pytest.fixture(scope="module")
def one_large_file(tmp_path_factory):
    """One ~2 MiB generated file (with a BOM, CRLF lines and no final newline), to be cut into many splits."""
    folder = tmp_path_factory.mktemp("large")
    generate_corpus(folder, 2, 11, 1)
    return corpus_files(folder)


@pytest.fixture(scope="module")
def one_large_file_counts(one_large_file):
    return count_words(one_large_file)


def test_the_sample_corpus_counts_equal_the_independent_computation(tmp_path):
    files = corpus_files(SAMPLE_CORPUS)

    word_counts, postings, counters, _ = mapreduce(files, tmp_path)

    assert word_counts == count_words(files)
    assert Counter(word for word, _ in postings) == document_frequency(files)
    assert counters["records_read"] == sum(len(lines_of(path)) for path in files)
    assert counters["map_output_records"] == sum(word_counts.values())


@pytest.mark.parametrize(
    "split_bytes", [1, 49999, 256 * 1024], ids=["one-byte splits", "49999-byte splits", "256KiB splits"]
)
def test_byte_range_splits_read_every_line_once_and_cut_no_word(
    tmp_path, one_large_file, one_large_file_counts, split_bytes
):
    if split_bytes == 1:  # a byte per split is too many tasks for 2 MiB: a small file shows the same edge
        path = tmp_path / "small.txt"
        path.write_text("alpha beta\n\ngamma δέλτα\r\nlast line without newline")
        files = [path]
    else:
        files = one_large_file
    expected = count_words(files) if split_bytes == 1 else one_large_file_counts

    word_counts, _, counters, _ = mapreduce(files, tmp_path / "work", split_bytes=split_bytes, chunk_bytes=4096)

    assert counters["splits"] == -(-files[0].stat().st_size // split_bytes)
    assert word_counts == expected
    assert counters["records_read"] == len(lines_of(files[0]))
    assert counters["bytes_read"] == files[0].stat().st_size


def test_one_two_or_seven_reducers_give_the_same_counts(tmp_path, one_large_file, one_large_file_counts):
    results = {
        partitions: mapreduce(one_large_file, tmp_path / str(partitions), partitions=partitions, split_bytes=256 * 1024)
        for partitions in (1, 2, 7)
    }
    assert results[1][0] == results[2][0] == results[7][0] == one_large_file_counts
    assert results[1][1] == results[2][1] == results[7][1]
    groups = {partitions: result[2]["reduce_input_groups"] for partitions, result in results.items()}
    assert groups == dict.fromkeys((1, 2, 7), len(results[1][0]))  # a word is reduced in exactly one partition


def test_the_combiner_changes_the_spills_but_not_the_counts(tmp_path):
    files = corpus_files(SAMPLE_CORPUS)

    combined = mapreduce(files, tmp_path, combine=True, split_bytes=128 * 1024)
    uncombined = mapreduce(files, tmp_path, combine=False, split_bytes=128 * 1024)

    assert combined[0] == uncombined[0] and combined[1] == uncombined[1]
    total_words = sum(combined[0].values())
    assert uncombined[2]["spilled_records"] == uncombined[2]["map_output_records"] == total_words
    assert uncombined[2]["combine_input_records"] == uncombined[2]["combine_output_records"] == 0
    assert combined[2]["combine_input_records"] == total_words
    assert combined[2]["spilled_records"] == combined[2]["combine_output_records"] < total_words / 3


def test_counters_of_a_hand_counted_input(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("The cat saw the CAT.\n\nthe end\n")  # 3 lines; the x3, cat x2, saw, end: 7 words, 4 distinct

    word_counts, postings, counters, _ = mapreduce([path], tmp_path / "work", partitions=2)

    assert word_counts == Counter({"the": 3, "cat": 2, "saw": 1, "end": 1})
    assert postings == Counter({(word, str(path.resolve())): count for word, count in word_counts.items()})
    assert counters == {
        "documents": 1,
        "splits": 1,
        "partitions": 2,
        "records_read": 3,
        "bytes_read": len(path.read_bytes()),
        "map_output_records": 7,
        "combine_input_records": 7,
        "combine_output_records": 4,
        "spilled_records": 4,
        "spilled_bytes": counters["spilled_bytes"],
        "reduce_input_records": 4,
        "reduce_input_groups": 4,
        "word_counts_output_records": 4,
        "postings_output_records": 4,
    }
    assert counters["spilled_bytes"] > 0


def test_a_map_combines_its_chunks_again_before_spilling_while_they_fit_in_one_chunk_s_memory(tmp_path):
    path = tmp_path / "repeated.txt"
    path.write_text("alpha beta\n" * 10_000)  # 110,000 bytes: 27 chunks of 4 KiB, each combining to 2 rows

    word_counts, _, counters, shuffled = mapreduce([path], tmp_path / "work", partitions=2, chunk_bytes=4096)

    assert word_counts == Counter({"alpha": 10_000, "beta": 10_000})
    assert counters["combine_input_records"] == 20_000
    assert counters["spilled_records"] == counters["combine_output_records"] == 2  # not 2 per chunk
    [folder] = shuffled.map_directories
    spills = [spill.name for spill in Path(folder).glob("part-*.parquet")]
    assert spills and all(name.endswith("-00000.parquet") for name in spills)  # one spill, not one per chunk


def test_chunks_read_ahead_come_in_order_with_the_reader_s_error_and_the_reader_is_closed_when_the_map_stops():
    closed = []

    def reader(count: int, error: Exception | None = None):
        try:
            yield from range(count)
            if error:
                raise error
        finally:
            closed.append(count)

    assert list(_read_ahead(reader(5))) == [0, 1, 2, 3, 4]
    with pytest.raises(BatchDataError, match="not UTF-8"):
        list(_read_ahead(reader(3, BatchDataError("line 4 is not UTF-8"))))
    ahead = _read_ahead(reader(100))
    assert next(ahead) == 0
    ahead.close()  # a map that failed on its first chunk
    assert closed == [5, 3, 100]


def test_a_reducer_reads_only_its_own_partition_s_spills(tmp_path):
    files = corpus_files(SAMPLE_CORPUS)
    _, _, _, shuffled = mapreduce(files, tmp_path, partitions=4)

    for partition in range(4):
        spills = [
            spill for folder in shuffled.map_directories for spill in Path(folder).glob(f"part-{partition:03d}-*")
        ]
        words_here = pl.concat([pl.read_parquet(spill) for spill in spills]).get_column("word")
        assert (words_here.hash(seed=0) % 4 == partition).all()


def test_a_file_that_is_not_utf8_fails_its_batch_and_no_other(tmp_path):
    good = tmp_path / "good.txt"
    good.write_text("fine words here\n" * 100)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"first line\n" * 100 + b"caf\xe9 latin-1\n" + b"more\n" * 100)

    word_counts, _, counters, shuffled = mapreduce([good, bad], tmp_path / "work", split_bytes=512)

    assert word_counts == count_words([good])
    assert [batch.path for batch in shuffled.complete] == [good]
    [(failed_batch, reason)] = shuffled.failed
    assert failed_batch.path == bad
    assert "not UTF-8" in reason and "byte 1,024" in reason
    assert counters["documents"] == 1


def test_finished_maps_are_reused_and_run_files_are_removed_after_loading(tmp_path):
    path = tmp_path / "doc.txt"
    path.write_text("one two two\n")
    batch = make_batch(PIPELINE, path)
    [split] = plan_splits([batch], 1 << 20)
    first = run_map(split, WORD_COUNT_JOB, tmp_path / "work", 2, True, 1 << 20)

    again = run_map(split, WORD_COUNT_JOB, tmp_path / "work", 2, True, 1 << 20)

    assert again == first == read_map_manifest(Path(first.directory))
    shuffled = shuffle([first], job_directory(tmp_path / "work", WORD_COUNT_JOB, 2, True), 2)
    [run_reducers(WORD_COUNT_JOB, partition, shuffled) for partition in shuffled.partitions_to_reduce]
    remove_run_files(shuffled)
    assert not Path(first.directory).exists() and not shuffled.reduce_directory.exists()


def test_compressed_files_are_one_split_and_large_plain_files_many_the_longest_first():
    batches = [make_batch(PIPELINE, path) for path in corpus_files(SAMPLE_CORPUS)]
    splits = plan_splits(batches, 100_000)
    by_file = Counter(split.batch.path.name for split in splits)
    for batch in batches:
        expected = 1 if batch.path.name.endswith(".gz") else -(-batch.size_bytes // 100_000)
        assert by_file[batch.path.name] == expected
    compressed = [split.batch.path.name.endswith(".gz") for split in splits]
    assert compressed == sorted(compressed, reverse=True)  # a compressed file cannot be cut: it is the longest map
    plain_bytes = [split.end - split.start for split in splits if split.end is not None]
    assert plain_bytes == sorted(plain_bytes, reverse=True) and plain_bytes[-1] < 100_000
    assert MapCounters(1, 2) + MapCounters(3, 4) == MapCounters(4, 6)


def test_a_shared_staging_folder_keeps_one_folder_per_warehouse(monkeypatch, tmp_path):
    monkeypatch.setattr(settings, "STAGING", str(tmp_path / "shared"))

    first = settings.staging_root_for(tmp_path / "a" / "warehouse.duckdb")
    second = settings.staging_root_for(tmp_path / "b" / "warehouse.duckdb")

    assert first.parent == second.parent == tmp_path / "shared"
    assert first != second
    assert first == settings.staging_root_for(tmp_path / "a" / ".." / "a" / "warehouse.duckdb")
    monkeypatch.setattr(settings, "STAGING", None)
    assert settings.staging_root_for(tmp_path / "a" / "warehouse.duckdb") == tmp_path / "a" / "staging"


@pytest.mark.parametrize("split_bytes", [1 << 20, 8], ids=["one-split", "many-splits"])
def test_a_document_appended_to_after_it_was_found_fails_alone_and_counts_in_a_later_run(tmp_path, split_bytes):
    path = tmp_path / "doc.txt"
    path.write_text("one two two\nthree\n")
    found = make_batch(PIPELINE, path)
    with path.open("a") as writer:
        writer.write("four four\n")

    outputs = [
        run_map(split, WORD_COUNT_JOB, tmp_path / "work", 2, True, 1 << 20)
        for split in plan_splits([found], split_bytes)
    ]

    last = max(outputs, key=lambda output: output.split.index)  # the split that reads up to the file's end
    assert last.error.startswith("doc.txt changed while it was read (18 bytes when found, 28 after)")
    later = [
        run_map(split, WORD_COUNT_JOB, tmp_path / "work", 2, True, 1 << 20)
        for split in plan_splits([make_batch(PIPELINE, path)], split_bytes)
    ]
    assert [output.error for output in later] == [None] * len(later)
    assert sum(output.counters.records_read for output in later) == 3
