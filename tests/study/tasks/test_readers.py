"""Release-format readers: real samples read right, and every malformed file names its file, line and rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.tasks import readers as R
from study.tasks.readers import DataError


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def raises(fn, *args, **kwargs) -> DataError:
    with pytest.raises(DataError) as info:
        fn(*args, **kwargs)
    return info.value


# ------------------------------------------------------------------------------ real shared samples
def test_xcopa_jsonl_real(shared_data):
    rows = R.read_copa_jsonl(shared_data / "xcopa" / "et" / "test.et.jsonl")
    assert len(rows) == 500
    first = rows[0]
    assert first["context"].startswith("Ese oli mullikilesse mässitud.") and first["context"].endswith(R.COPA_QUESTIONS["cause"])
    assert len(first["choices"]) == 2 and first["label"] in (0, 1)
    assert {r["label"] for r in rows} == {0, 1}


def test_tatoeba_laser_real(shared_data):
    folder = shared_data / "tatoeba"
    rows = R.read_tatoeba(folder / "tatoeba.deu-eng.deu", folder / "tatoeba.deu-eng.eng")
    assert len(rows) == 1000
    assert rows[0] == {"source": "Maria sagte, sie wisse nicht, wo Tom sei.", "target": "Mary said she didn't know where Tom was."}
    assert len(R.read_tatoeba(folder / "tatoeba.kaz-eng.kaz", folder / "tatoeba.kaz-eng.eng")) == 575


def test_conllu_real(shared_data):
    path = shared_data / "udpos" / "UD_English-EWT" / "en_ewt-ud-dev.conllu"
    rows = R.read_conllu(path)
    n_sentences = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("# sent_id"))
    assert len(rows) == n_sentences == 2001
    assert rows[0] == {"tokens": ["From", "the", "AP", "comes", "this", "story", ":"],
                       "tags": ["ADP", "DET", "PROPN", "VERB", "DET", "NOUN", "PUNCT"]}
    assert all(len(r["tokens"]) == len(r["tags"]) and set(r["tags"]) <= set(R.UPOS_TAGS) for r in rows)
    assert len(R.read_conllu(shared_data / "udpos" / "UD_German-PUD" / "de_pud-ud-test.conllu")) == 1000


def test_anli_analysis_csv_real(shared_data):
    rows = R.read_anli_csv(shared_data / "anli" / "ANLI_analysis_r1_dev.csv")
    assert len(rows) == 1000
    assert rows[0]["label"] == "contradiction" and rows[0]["text_b"].startswith("Form and meaning")
    assert {r["label"] for r in rows} == set(R.NLI_LABELS)


def test_cosmosqa_csv_real(shared_data):
    rows = R.read_cosmosqa_csv(shared_data / "cosmosqa" / "valid.csv")
    assert len(rows) == 2985
    assert rows[0]["context"].endswith("Why is this person asking about divorce ?")
    assert len(rows[0]["choices"]) == 4 and rows[0]["label"] == 1


def test_xquad_squad_json_real(shared_data):
    for lang in ("en", "de", "zh"):
        rows = R.read_squad_json(shared_data / "xquad" / f"xquad.{lang}.json")
        assert len(rows) == 1190
    for row in rows[:50]:
        start, text = row["answers"]["answer_start"][0], row["answers"]["text"][0]
        assert row["context"][start : start + len(text)] == text


def test_format_samples(samples):
    xnli = samples / "xnli" / "dummy_data"
    de = R.read_xnli_tsv(xnli / "XNLI-1.0.zip" / "XNLI-1.0" / "xnli.test.tsv", "de")
    assert len(de) == 1 and de[0]["label"] == "contradiction"
    mt = R.read_xnli_mt_tsv(xnli / "XNLI-MT-1.0.zip" / "XNLI-MT-1.0" / "multinli" / "multinli.train.en.tsv")
    assert [r["label"] for r in mt][:2] == ["neutral", "entailment"]
    pawsx = R.read_pawsx_tsv(samples / "paws-x" / "dummy_data" / "x-final.tar.gz" / "x-final" / "de" / "dev_2k.tsv")
    assert pawsx[0]["label"] == "1" and pawsx[0]["text_a"].startswith("Durch die Zusammenlegung")
    panx = R.read_panx(samples / "panx_PAN-X.de" / "dummy_data" / "de.tar.gz", "test", "de")
    assert panx == [{"tokens": ["WEITERLEITUNG", "Hu", "(", "Xi’an", ")"], "tags": ["O", "B-LOC", "I-LOC", "I-LOC", "I-LOC"]}]
    mnli = R.read_glue_mnli_tsv(samples / "mnli" / "dummy_data" / "MNLI" / "dev_matched.tsv")
    assert mnli[0] == {"text_a": "The new rights are nice enough", "text_b": "Everyone really likes the newest benefits ",
                       "label": "neutral"}
    assert [r["label"] for r in R.read_glue_qqp_tsv(samples / "qqp" / "dummy_data" / "QQP" / "train.tsv")] == ["0", "1", "0"]
    swag = R.read_hellaswag_jsonl(samples / "hellaswag" / "dummy_data" / "hellaswag_val.jsonl")
    assert swag[0]["context"] == "A man is sitting on a roof." and swag[0]["choices"][3] == "he starts pulling up roofing on a roof."
    csqa = R.read_commonsenseqa_jsonl(samples / "commonsense_qa" / "dummy_data" / "dev_rand_split.jsonl")
    assert csqa[0]["choices"][:2] == ["bank", "library"] and csqa[0]["label"] == 0
    tydi = samples / "tydiqa_goldp" / "dummy_data" / "tydiqa-goldp-v1.1-dev.json"
    arabic = R.read_squad_json(tydi, keep=lambda qid: qid.startswith("arabic-"))
    assert [r["id"] for r in arabic] == ["arabic-2387335860751143628-1"]
    mlqa = R.read_squad_json(samples / "mlqa" / "dummy_data" / "MLQA_V1" / "dev" / "dev-context-en-question-de.json")
    assert mlqa and all(r["answers"]["text"] for r in mlqa)


# ------------------------------------------------------------------------------ written release files
def test_panx_release_archive(tmp_path):
    import tarfile

    member = write(tmp_path / "src", "dev", "de:Anton\tB-PER\nde:von\tI-PER\n\nde:.\tO\n")
    with tarfile.open(tmp_path / "de.tar.gz", "w:gz") as archive:
        archive.add(member, arcname="dev")
    rows = R.read_panx(tmp_path / "de.tar.gz", "dev", "de")
    assert rows == [{"tokens": ["Anton", "von"], "tags": ["B-PER", "I-PER"]}, {"tokens": ["."], "tags": ["O"]}]
    error = raises(R.read_panx, tmp_path / "de.tar.gz", "train", "de")
    assert "no member 'train'" in str(error)


def test_conllu_skips_multiword_tokens_and_empty_nodes(tmp_path):
    path = write(tmp_path, "x.conllu", "# text = Im Haus\n1-2\tIm\t_\t_\t_\t_\t_\t_\t_\t_\n1\tIn\tin\tADP\t_\t_\t3\tcase\t_\t_\n"
                 "2\tdem\tder\tDET\t_\t_\t3\tdet\t_\t_\n2.1\tx\tx\tX\t_\t_\t_\t_\t_\t_\n3\tHaus\tHaus\tNOUN\t_\t_\t0\troot\t_\t_\n")
    assert R.read_conllu(path) == [{"tokens": ["In", "dem", "Haus"], "tags": ["ADP", "DET", "NOUN"]}]


def test_socialiqa_with_label_file(tmp_path):
    q = {"context": "Tracy went home.", "question": "Why?", "answerA": "tired", "answerB": "hungry", "answerC": "bored"}
    path = write(tmp_path, "dev.jsonl", json.dumps(q) + "\n" + json.dumps(q) + "\n")
    write(tmp_path, "dev-labels.lst", "2\n3\n")
    rows = R.read_socialiqa(path)
    assert [r["label"] for r in rows] == [1, 2] and rows[0]["context"] == "Tracy went home. Why?"
    write(tmp_path, "dev-labels.lst", "2\n")
    error = raises(R.read_socialiqa, path)
    assert "dev-labels.lst" in str(error) and "1 labels for 2 questions" in str(error)


def test_bucc_release_files(tmp_path):
    src = write(tmp_path, "de-en.sample.de", "de-1\tHallo Welt\nde-2\tGuten Tag\n")
    write(tmp_path, "de-en.sample.en", "en-1\tHello world\nen-2\tGood day\nen-3\tNoise\n")
    write(tmp_path, "de-en.sample.gold", "de-1\ten-1\nde-2\ten-2\n")
    rows = R.read_bucc(src, "de")
    assert sum(r["side"] == "src" for r in rows) == 2 and sum(r["side"] == "tgt" for r in rows) == 3
    assert [(r["id"], r["target_id"]) for r in rows if r["side"] == "gold"] == [("de-1", "en-1"), ("de-2", "en-2")]
    write(tmp_path, "de-en.sample.gold", "de-1\ten-1\nde-9\ten-2\n")
    error = raises(R.read_bucc, src, "de")
    assert error.line == 2 and str(error.path).endswith("de-en.sample.gold")


def test_xquad_r_sentences_and_relevance(tmp_path):
    doc = {"data": [{"title": "t", "paragraphs": [{
        "context": "One two. Three four.", "sentence_breaks": [[0, 8], [9, 20]],
        "qas": [{"id": "q1", "question": "Which?", "answers": [{"text": "Three", "answer_start": 9}]}]}]}]}
    rows = R.read_xquad_r(write(tmp_path, "de.json", json.dumps(doc)), "de")
    assert [r["text"] for r in rows if r["kind"] == "candidate"] == ["One two.", "Three four."]
    (query,) = [r for r in rows if r["kind"] == "query"]
    assert query["relevant"] == ["de-0-0-1"]
    del doc["data"][0]["paragraphs"][0]["sentence_breaks"]  # the hub's copy: sentences found by punctuation
    assert [r["text"] for r in R.read_xquad_r(write(tmp_path, "x.json", json.dumps(doc)), "de") if r["kind"] == "candidate"] == [
        "One two.", "Three four."]


def test_mewslix_mentions_and_entities(tmp_path):
    article = {"context": {"language": "de", "text": "Erster Satz. Angela Merkel sprach.", "sentence_spans": [
        {"start": 0, "end": 12}, {"start": 13, "end": 34}]},
        "mentions": [{"example_id": "m1", "entity_id": "Q567", "mention_span": {"text": "Angela Merkel", "start": 13, "end": 26}}]}
    other = {**article, "context": {**article["context"], "language": "en"}}
    path = write(tmp_path, "wikinews_mentions-test.jsonl", json.dumps(article) + "\n" + json.dumps(other) + "\n")
    (query,) = R.read_mewslix_mentions(path, "de")
    assert query == {"kind": "query", "id": "m1", "text": "Angela Merkel sprach.", "lang": "de", "relevant": ["Q567"]}
    entities = write(tmp_path, "candidate_set_entities.jsonl", json.dumps(
        {"entity_id": "Q567", "title": "Angela Merkel", "description": "Bundeskanzlerin", "description_language": "de"}) + "\n")
    assert R.read_mewslix_entities(entities)[0]["id"] == "Q567"
    empty = {**article, "context": {**article["context"], "text": ""}}
    error = raises(R.read_mewslix_mentions, write(tmp_path, "no_text.jsonl", json.dumps(empty) + "\n"), "de")
    assert error.line == 1 and "get-mewsli-x.sh" in str(error)


def test_ccg_jiant_format(tmp_path):
    path = write(tmp_path, "ccg.train", "The cat sat\tNP[nb]/N N S[dcl]\\NP\n")
    rows = R.read_ccg(path, {"N": "1", "NP[nb]/N": "0"})
    assert rows == [{"tokens": ["The", "cat", "sat"], "tags": ["0", "1", "S[dcl]\\NP"]}]
    error = raises(R.read_ccg, write(tmp_path, "bad", "The cat\tN\n"), {})
    assert error.line == 1 and "2 words but 1 tags" in str(error)


def test_anli_jsonl_and_snli(tmp_path):
    anli = write(tmp_path, "dev.jsonl", json.dumps({"uid": "1", "context": "A", "hypothesis": "B", "label": "n"}) + "\n")
    assert R.read_anli_jsonl(anli) == [{"text_a": "A", "text_b": "B", "label": "neutral"}]
    snli = write(tmp_path, "snli.jsonl", "\n".join(json.dumps({"sentence1": "A", "sentence2": "B", "gold_label": g})
                                                    for g in ("entailment", "-", "contradiction")) + "\n")
    assert [r["label"] for r in R.read_snli_jsonl(snli)] == ["entailment", "contradiction"]


# ----------------------------------------------------------------------------------------- errors
def test_missing_file(tmp_path):
    error = raises(R.read_copa_jsonl, tmp_path / "val.qu.jsonl")
    assert error.path == tmp_path / "val.qu.jsonl" and "file missing" in str(error)


def test_bad_json_line(tmp_path):
    good = json.dumps({"premise": "a", "choice1": "b", "choice2": "c", "question": "cause", "label": 0})
    path = write(tmp_path, "val.et.jsonl", f"{good}\n{good}\n{{not json\n")
    error = raises(R.read_copa_jsonl, path)
    assert error.path == path and error.line == 3
    assert "not valid JSON" in str(error) and "one JSON object per line" in str(error)


def test_conllu_line_with_missing_columns(tmp_path):
    path = write(tmp_path, "en_x-ud-test.conllu", "# sent_id = 1\n1\tHi\thi\tINTJ\t_\t_\t0\troot\t_\t_\n2\t!\t!\tPUNCT\n")
    error = raises(R.read_conllu, path)
    assert error.line == 3 and "4 tab-separated columns" in str(error) and "10 tab-separated columns" in str(error)
    assert str(path) in str(error)


def test_tatoeba_line_counts_differ(tmp_path):
    src = write(tmp_path, "tatoeba.deu-eng.deu", "a\nb\nc\n")
    eng = write(tmp_path, "tatoeba.deu-eng.eng", "A\nB\n")
    error = raises(R.read_tatoeba, src, eng)
    assert error.path == src and error.line == 3
    assert "3 lines" in str(error) and "has 2" in str(error) and "same number of lines" in str(error)


def test_label_outside_the_label_set(tmp_path):
    path = write(tmp_path, "xnli.test.tsv", "language\tgold_label\tsentence1\tsentence2\nde\tneutral\ta\tb\nde\tmaybe\tc\td\n")
    error = raises(R.read_xnli_tsv, path, "de")
    assert error.path == path and error.line == 3
    assert "'maybe'" in str(error) and "not in the task's label set" in str(error) and "entailment" in str(error)
    panx = write(tmp_path, "train", "en:Paris\tB-CITY\n")
    error = raises(R.read_panx, panx, "train", "en")
    assert error.line == 1 and "B-CITY" in str(error)
    udpos = write(tmp_path, "en_x-ud-dev.conllu", "1\tHi\thi\tINTERJ\t_\t_\t0\troot\t_\t_\n")
    assert "INTERJ" in str(raises(R.read_conllu, udpos))
    copa = write(tmp_path, "c.jsonl", json.dumps({"premise": "a", "choice1": "b", "choice2": "c", "question": "cause", "label": 2}) + "\n")
    assert raises(R.read_copa_jsonl, copa).line == 1


def test_tsv_with_wrong_field_count_and_header(tmp_path):
    path = write(tmp_path, "dev_2k.tsv", "id\tsentence1\tsentence2\tlabel\n1\ta\tb\t1\n2\ta\tb\n")
    error = raises(R.read_pawsx_tsv, path)
    assert error.line == 3 and "3 tab-separated fields" in str(error)
    error = raises(R.read_pawsx_tsv, write(tmp_path, "h.tsv", "id\ts1\ts2\tlabel\n"))
    assert error.line == 1 and "sentence1" in str(error)


def test_squad_json_errors_name_the_json_path(tmp_path):
    doc = {"data": [{"title": "t", "paragraphs": [{"context": "abc", "qas": [{"id": "q", "question": "?", "answers": []}]}]}]}
    path = write(tmp_path, "dev-v1.1.json", json.dumps(doc))
    error = raises(R.read_squad_json, path)
    assert error.line == "data[0].paragraphs[0].qas[0]" and "no answer" in str(error)
    assert R.read_squad_json(path, allow_no_answer=True)[0]["answers"] == {"text": [], "answer_start": []}
    broken = write(tmp_path, "broken.json", '{"data": [\n  {"title": 1,\n')
    assert raises(R.read_squad_json, broken).line == 3


def test_csv_with_wrong_field_count(tmp_path):
    path = write(tmp_path, "valid.csv", "id,context,question,answer0,answer1,answer2,answer3,label\n"
                 'x,"multi\nline context",q,a,b,c,d,0\ny,ctx,q,a,b,c\n')
    error = raises(R.read_cosmosqa_csv, path)
    assert error.line == 4 and "6 fields, but the header has 8" in str(error)


def test_bad_utf8_names_the_line(tmp_path):
    path = tmp_path / "tatoeba.deu-eng.deu"
    path.write_bytes(b"ok\nbad \xff byte\n")
    error = raises(R.text_lines, path)
    assert error.line == 2 and "UTF-8" in str(error)
