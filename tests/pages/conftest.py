from tests.pages.apptest import page_env  # noqa: F401  (autouse: every page test runs against the demo store)
