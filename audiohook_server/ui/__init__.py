"""The supervisor's pages and the QA report: the live floor (`floor`), one call's view, live or
finished (`call_view`, `call_files`), the report file written when a call ends (`report`), the pages'
markup (`pages`), logins (`access`) and the routes under `/ui/` (`routes`). See docs/ui.md."""
