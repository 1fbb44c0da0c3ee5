"""Fixtures shared by the tests of study/."""

from study_fixtures import live_study  # noqa: F401 - a pytest fixture
