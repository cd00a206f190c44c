"""The definition loader: valid files load, every mistake is reported with file, key and reason."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from connector.core.definition import DEFAULT_BANT_FIELDS, load_definition, parse_duration
from connector.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

# A small valid definition, one TOML text per section, so each case swaps in one mistake.
BASE = {
    "definition": '[definition]\nname = "Test"\nversion = 1\neffective = 2026-01-01\nreview_every_days = 90\n',
    "required": '[required]\nfields = ["email", "company"]\n',
    "fit": '[[fit]]\nname = "Company size"\nfield = "employees"\nmin = 100\n'
           '[[fit]]\nname = "Business email"\nfield = "email_domain"\nnot_in = ["gmail.com"]\n',
    "profile": '[[profile]]\nname = "Senior title"\nfield = "title"\npattern = "(?i)vp|director"\npoints = 15\n',
    "behavior": '[[behavior]]\nname = "Demo request"\nactivity = "form_submission"\n'
                'where = { form_id = "demo-request" }\npoints = 30\nmax_count = 1\nbuying_signal = true\n',
    "engagement": "[engagement]\nwindow_days = 90\nhalf_life_days = 0\n",
    "readiness": '[readiness]\nfield = "wants_sales_contact"\n',
    "thresholds": "[thresholds]\nmql_score = 60\nmin_engagement = 10\n",
    "bant": '[bant]\nrequire = 2\nbudget = { field = "bant_budget", equals = true, weight = 1 }\n'
            'timeline = { field = "bant_timeline", in = ["0-3 months"], weight = 1 }\n',
    "sla": '[sla]\nfirst_touch_target = "30m"\nfirst_touch_deadline = "1d"\n'
           'touches = { calls = 3, emails = 3, within = "14d" }\nqualified_per_quarter = 300\n',
    "targets": "[targets]\nmql_to_sal = [0.2, 0.4]\nwin_rate_new = 0.3\n",
}


def write(tmp_path: Path, **sections: str) -> Path:
    text = "\n".join(sections.get(name, body) for name, body in BASE.items())
    path = tmp_path / "qualification.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, extra_fields=DEFAULT_BANT_FIELDS) -> str:
    with pytest.raises(ConfigError) as caught:
        load_definition(path, extra_fields)
    return str(caught.value)


INVALID = [
    # (section overrides, expected message substring incl. key path)
    ({"thresholds": "[thresholds\nmql_score = 60\n"}, "TOML syntax error"),
    ({"thresholds": "[thresholds]\nmql_scor = 60\n"}, "thresholds.mql_scor: unknown key (did you mean 'mql_score'?)"),
    ({"thresholds": '[thresholds]\nmql_score = "60"\n'}, "thresholds.mql_score: must be a number, got string '60'"),
    ({"thresholds": "[thresholds]\nmql_score = true\n"}, "thresholds.mql_score: must be a number, got boolean"),
    ({"thresholds": ""}, "thresholds: missing required section [thresholds]"),
    ({"required": ""}, "required: missing required section [required]"),
    ({"required": '[required]\nfields = ["email", "compnay"]\n'},
     "required.fields[1]: unknown field 'compnay' (did you mean 'company'?"),
    ({"profile": '[[profile]]\nname = "Senior title"\nfield = "title"\npattern = "(vp"\npoints = 15\n'},
     'profile["Senior title"].pattern: bad regex \'(vp\''),
    ({"profile": '[[profile]]\nname = "Senior title"\nfield = "title"\npattern = "vp"\npoints = 7\n'},
     'profile["Senior title"].points: profile points use the 5 / 10 / 15 scale'),
    ({"fit": '[[fit]]\nname = "Company size"\nfield = "employes"\nmin = 100\n'},
     'fit["Company size"].field: unknown field \'employes\' (did you mean \'employees\'?'),
    ({"fit": '[[fit]]\nname = "Company size"\nfield = "employees"\nmin = 100\nin = ["a"]\n'},
     'fit["Company size"]: needs exactly one operator'),
    ({"fit": '[[fit]]\nname = "Company size"\nfield = "employees"\n'}, "found none"),
    ({"fit": BASE["fit"] + '[[fit]]\nfield = "employees"\nmin = 500\nmax = 100\n'},
     "fit[2].min: min 500 is greater than max 100"),
    ({"fit": BASE["fit"] + '[[fit]]\nfield = "employees"\nmin = 5\n'}, "fit[2].name: every rule needs a name"),
    ({"fit": '[[fit]]\nname = "Size"\nfield = "employees"\nmin = 100\nwieght = 2\n'},
     'fit["Size"].wieght: unknown key'),
    ({"behavior": BASE["behavior"].replace('"form_submission"', '"page_visit"')},
     'behavior["Demo request"].activity: unknown activity type \'page_visit\''),
    ({"behavior": BASE["behavior"].replace("form_id =", "form =")},
     'behavior["Demo request"].where.form: unknown attribute \'form\' for form_submission'),
    ({"behavior": BASE["behavior"].replace('"demo-request"', '{ pattern = "[demo" }')},
     'behavior["Demo request"].where.form_id.pattern: bad regex'),
    ({"behavior": BASE["behavior"].replace('"demo-request"', '{ equals = "a", contains = "b" }')},
     'behavior["Demo request"].where.form_id: needs exactly one operator'),
    ({"behavior": BASE["behavior"].replace("max_count = 1", "max_count = 0")},
     'behavior["Demo request"].max_count: must be greater than 0'),
    ({"behavior": BASE["behavior"].replace("points = 30", 'points = "lots"')},
     'behavior["Demo request"].points: must be a number'),
    ({"profile": BASE["profile"] + BASE["profile"]}, "profile[1].name: duplicate rule name 'Senior title'"),
    ({"profile": BASE["profile"].replace("Senior title", "Company size")},
     "profile[0].name: duplicate rule name 'Company size' (also fit[0])"),
    ({"engagement": "[engagement]\nwindow_days = 0\n"}, "engagement.window_days: must be greater than 0"),
    ({"engagement": "[engagement]\nwindow_days = -30\n"}, "engagement.window_days: must be greater than 0"),
    ({"engagement": "[engagement]\nhalf_life_days = -1\n"}, "engagement.half_life_days: must not be negative"),
    ({"readiness": '[readiness]\nfield = "wants_contact"\n'}, "readiness.field: unknown field 'wants_contact'"),
    ({"sla": '[sla]\nfirst_touch_target = "30 minutes"\n'}, "sla.first_touch_target: bad duration '30 minutes'"),
    ({"sla": '[sla]\nfirst_touch_target = "0m"\n'}, "sla.first_touch_target: bad duration '0m': must be longer"),
    ({"sla": '[sla]\nfirst_touch_target = "2d"\nfirst_touch_deadline = "1d"\n'},
     "sla.first_touch_target: is later than sla.first_touch_deadline"),
    ({"sla": '[sla]\ntouches = { calls = 3, within = "two weeks" }\n'}, "sla.touches.within: bad duration"),
    ({"bant": BASE["bant"].replace("weight = 1 }\ntimeline", "weight = -1 }\ntimeline")},
     "bant.budget.weight: must be greater than 0"),
    ({"bant": BASE["bant"].replace("require = 2", "require = 5")}, "bant.require: 5 can never be reached"),
    ({"bant": BASE["bant"].replace('in = ["0-3 months"]', 'in = "0-3 months"')},
     "bant.timeline.in: must be a non-empty list of values"),
    ({"bant": BASE["bant"] + 'tiemline = { field = "bant_timeline", present = true }\n'}, "bant.tiemline: unknown key"),
    ({"targets": "[targets]\nmql_to_sal = [0.2, 1.4]\n"}, "targets.mql_to_sal: must be a rate in [0, 1]"),
    ({"targets": "[targets]\nsal_to_sql = [0.9, 0.8]\n"}, "targets.sal_to_sql: range low is greater than high"),
    ({"definition": '[definition]\nname = "T"\nversion = 0\neffective = 2026-01-01\n'},
     "definition.version: must be 1 or more"),
    ({"definition": '[definition]\nname = "T"\nversion = 1\neffective = "January"\n'},
     "definition.effective: must be a date like 2026-01-01"),
    ({"definition": '[definition]\nversion = 1\neffective = 2026-01-01\n'}, "definition.name: missing"),
]


@pytest.mark.parametrize("overrides, expected", INVALID, ids=[e for _, e in INVALID])
def test_given_invalid_definition_when_loaded_then_problem_names_key_and_reason(tmp_path, overrides, expected):
    path = write(tmp_path, **overrides)
    message = problems_of(path)
    assert expected in message
    assert str(path) in message


def test_given_syntax_error_when_loaded_then_message_gives_the_line(tmp_path):
    path = write(tmp_path, thresholds="[thresholds]\nmql_score = = 60\n")
    assert "line" in problems_of(path)


def test_given_several_mistakes_when_loaded_then_all_are_reported_at_once(tmp_path):
    path = write(tmp_path, thresholds="[thresholds]\nmql_score = 'x'\n",
                 engagement="[engagement]\nwindow_days = 0\n",
                 profile=BASE["profile"].replace("points = 15", "points = 12"))
    with pytest.raises(ConfigError) as caught:
        load_definition(path, DEFAULT_BANT_FIELDS)
    keys = {p.key for p in caught.value.problems}
    assert keys == {"thresholds.mql_score", "engagement.window_days", 'profile["Senior title"].points'}


def test_given_bant_fields_not_passed_by_caller_when_loaded_then_they_are_unknown(tmp_path):
    message = problems_of(write(tmp_path), extra_fields=())
    assert "bant.budget.field: unknown field 'bant_budget'" in message


def test_given_off_scale_points_and_strict_scale_off_when_loaded_then_accepted(tmp_path):
    definition_section = BASE["definition"] + "strict_profile_scale = false\n"
    path = write(tmp_path, definition=definition_section, profile=BASE["profile"].replace("points = 15", "points = 12"))
    definition = load_definition(path, DEFAULT_BANT_FIELDS)
    assert definition.profile[0].points == 12


def test_given_missing_file_when_loaded_then_config_error_names_it(tmp_path):
    message = problems_of(tmp_path / "nope.toml")
    assert "nope.toml" in message and "cannot read" in message


def test_given_valid_definition_when_loaded_then_compiled_values_are_typed(tmp_path):
    definition = load_definition(write(tmp_path), DEFAULT_BANT_FIELDS)
    assert definition.version == 1 and definition.effective == date(2026, 1, 1)
    assert [r.name for r in definition.fit] == ["Company size", "Business email"]
    assert definition.behavior[0].max_count == 1 and definition.behavior[0].buying_signal
    assert definition.sla.first_touch_target == timedelta(minutes=30)
    assert definition.sla.touch_within == timedelta(days=14)
    assert definition.targets["mql_to_sal"] == (0.2, 0.4)
    assert definition.targets["win_rate_new"] == (0.3, 0.3)
    assert definition.bant_require == 2


def test_given_shipped_definition_when_loaded_with_default_bant_fields_then_valid():
    definition = load_definition(REPO / "mappings" / "qualification.toml", DEFAULT_BANT_FIELDS)
    assert definition.thresholds.mql_score == 50 and definition.thresholds.min_engagement == 10
    assert {r.name for r in definition.behavior if r.buying_signal} >= {"Demo request", "Pricing page", "Free trial"}
    assert all(r.points in (5, 10, 15) for r in definition.profile)


@pytest.mark.parametrize("text, expected", [
    ("30m", timedelta(minutes=30)), ("1d", timedelta(days=1)), ("14d", timedelta(days=14)),
    ("2h", timedelta(hours=2)), ("45s", timedelta(seconds=45)), ("2w", timedelta(weeks=2)),
])
def test_given_duration_text_when_parsed_then_timedelta(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "m30", "1 day", "-1d", "0d"])
def test_given_bad_duration_when_parsed_then_value_error(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("today, due", [
    (date(2026, 3, 31), None), (date(2026, 4, 1), date(2026, 4, 1)), (date(2026, 9, 1), date(2026, 4, 1)),
])
def test_given_review_every_90_days_when_asked_then_due_date_once_reached(tmp_path, today, due):
    definition = load_definition(write(tmp_path), DEFAULT_BANT_FIELDS)
    assert definition.review_due(today) == due
