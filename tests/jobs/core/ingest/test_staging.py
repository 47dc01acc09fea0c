"""Staged landing files stay hidden until published; their names carry their content's hash."""

from __future__ import annotations

from jobs.core.ingest.staging import StagedLanding


def test_staged_files_are_hidden_then_published_with_a_content_hash(tmp_path):
    landing = StagedLanding(str(tmp_path), events_per_file=2)
    landing.start("hh-export-hb30")
    assert landing.write(['{"a":1}', '{"a":2}', '{"a":3}']) == 3
    landing._close()
    assert all(p.name.startswith(".staged-") for p in tmp_path.iterdir())
    assert landing.publish() == 2
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [n.rsplit("-", 1)[0] for n in names] == ["hh-export-hb30-00000", "hh-export-hb30-00001"]
    assert (tmp_path / names[0]).read_text() == '{"a":1}\n{"a":2}\n'


def test_the_same_content_gets_the_same_name_and_a_discard_leaves_nothing(tmp_path):
    for _ in range(2):
        landing = StagedLanding(str(tmp_path), events_per_file=10)
        landing.start("p")
        landing.write(['{"a":1}'])
        landing.publish()
    assert len(list(tmp_path.iterdir())) == 1
    landing = StagedLanding(str(tmp_path), events_per_file=10)
    landing.start("q")
    landing.write(['{"b":1}'])
    landing.discard()
    assert len(list(tmp_path.iterdir())) == 1
