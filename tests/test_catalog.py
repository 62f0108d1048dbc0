"""The catalog validator: the shipped entries pass; each kind of bad template is rejected with
the file and template index; task and mixture names resolve with the held-out rules."""

import copy

import pytest
import yaml

from flan.data import catalog, mixtures, tasks
from flan.data.catalog import CatalogError

GOOD = {
    "name": "toy", "cluster": "nli", "type": "classification", "metric": "accuracy",
    "tfds": {"name": "toy", "version": "1.0.0"}, "splits": {"train": "train"},
    "adapter": {"fields": {"premise": "p", "hypothesis": "h"}, "label": "label",
                "options": ["yes", "no"]},
    "templates": [{"input": f"{{premise}} Q{i}: {{hypothesis}}?\n\n{{options}}",
                   "target": "{answer}"} for i in range(9)]
                 + [{"input": "Write something true given: {premise}", "target": "{hypothesis}",
                     "inverted": True, "label": "yes"}],
}


def entry_with(change):
  data = copy.deepcopy(GOOD)
  change(data)
  return data


def test_good_entry_parses():
  spec = catalog.parse_entry(GOOD, "toy.yaml")
  assert len(spec.templates) == 10 and spec.templates[9].inverted
  assert [t.eval for t in spec.templates] == [True] * 9 + [False]
  assert spec.templates[0].uses_options and not spec.templates[9].uses_options


@pytest.mark.parametrize("change, message", [
    (lambda d: d["templates"].pop(), "exactly 10 templates, found 9"),
    (lambda d: d["templates"][3].update(input="{premise} {hypotesis}\n{options}"),
     r"template 3: input has unknown placeholder '\{hypotesis\}' \(did you mean '\{hypothesis\}'"),
    (lambda d: d["templates"][2].update(input="{premise} {hypothesis}n\n{options}"),
     "template 2: input has a character glued to a placeholder"),
    (lambda d: d["templates"].__setitem__(5, dict(d["templates"][4])),
     "template 5 duplicates template 4"),
    (lambda d: d["templates"][1].update(input="{options}\n{premise}"),
     "template 1: the input must end with"),
    (lambda d: d["templates"][0].update(target="{premise}"),
     "template 0: an eval-eligible classification template's target must be"),
    (lambda d: d["templates"][9].update(eval=True), "template 9: inverted templates are never"),
    (lambda d: d["templates"][9].update(label="maybe"), "template 9: label filter 'maybe'"),
    (lambda d: d["templates"][8].update(label="yes"), "template 8: a 'label' filter is only"),
    (lambda d: d["templates"][0].update(input="{premise} {hypothesis"), "template 0: input"),
    (lambda d: d["templates"].insert(0, d["templates"].pop()), "inverted templates must come last"),
])
def test_bad_templates_are_rejected_with_file_and_index(change, message):
  with pytest.raises(CatalogError, match=message) as error:
    catalog.parse_entry(entry_with(change), "templates/toy.yaml")
  assert str(error.value).startswith("templates/toy.yaml")


def test_options_in_a_generation_entry_is_rejected():
  def to_generation(d):
    d["type"] = "generation"
    d["adapter"] = {"fields": {"premise": "p", "hypothesis": "h"}, "answer": "a"}
  with pytest.raises(CatalogError, match="template 0: uses '{options}' but the entry is "
                                         "generation"):
    catalog.parse_entry(entry_with(to_generation), "toy.yaml")


def test_bad_file_from_disk(tmp_path):
  path = tmp_path / "toy.yaml"
  path.write_text(yaml.safe_dump(entry_with(lambda d: d["templates"][4].update(
      input="{premise}x {hypothesis}\n{options}"))))
  with pytest.raises(CatalogError, match=r"toy.yaml: template 4: input has a character glued"):
    catalog.load_entry(path)
  path.write_text("name: [unclosed")
  with pytest.raises(CatalogError, match="not valid YAML"):
    catalog.load_entry(path)


def test_shipped_catalog_validates():
  entries = catalog.catalog()
  assert {"rte", "boolq", "sst2", "arc_easy", "squad_v1"} <= set(entries)
  assert len(catalog.entries(collection="synthetic")) == 8
  for spec in entries.values():
    assert len(spec.templates) == 10
    assert not any(t.eval and t.inverted for t in spec.templates)


def test_inverted_templates_target_an_input_field():
  """Across the whole catalog: an inverted template's target is one of the record's fields."""
  for spec in catalog.catalog().values():
    for t in spec.templates:
      if t.inverted:
        assert not t.eval
        names = catalog.placeholders(t.target)
        assert names and names[0] in spec.fields, f"{spec.name} template {t.index}"


def test_unknown_entry_suggests_close_names():
  with pytest.raises(catalog.UnknownEntryError, match="did you mean synth_reviews"):
    tasks.resolve("flan:synth_reviw")
  assert tasks.parse_task("flan:rte:t3") == tasks.TaskName("rte", (3, 3))
  assert tasks.parse_task("rte") == tasks.TaskName("rte", None)
  with pytest.raises(catalog.UnknownEntryError, match="t0..t9"):
    tasks.resolve("flan:rte:t12")


def test_leave_one_cluster_out_applies_the_rules():
  training, evaluation = mixtures.split_entries("synthetic", "nli")
  assert {s.cluster for s in evaluation} == {"nli"}
  assert {s.cluster for s in training} == {"sentiment", "arithmetic", "struct_to_text"}
  assert mixtures.excluded_clusters("nli") == {"nli", "paraphrase"}
  assert mixtures.excluded_clusters("reading_comprehension_with_commonsense") == {
      "reading_comprehension_with_commonsense", "reading_comprehension", "commonsense"}
  training, evaluation = mixtures.split_entries("flan", "reading_comprehension")
  assert {"boolq", "squad_v1"} <= {s.name for s in evaluation}
  assert {s.cluster for s in evaluation} == {"reading_comprehension"}
  assert not {s.cluster for s in training} & {"reading_comprehension",
                                               "reading_comprehension_with_commonsense"}
  assert not {s.paper_dataset for s in training} & {s.paper_dataset for s in evaluation}
