"""What `make deploy-local` and `python -m tools.deploy` print of the CLI's output (tools.deploy.readable), on
transcripts shaped like CLI 12's: no spinner frames or escape sequences, a function's final state once, the first
pass's expected errors on one line, anything unexpected kept. The real CLI's run is checked in
tests/test_deploy_local.py."""

from __future__ import annotations

from tools.deploy import readable

FIRST = ["push", "functions", "--all", "--force", "--no-code"]
SECOND = ["push", "functions", "--all", "--force"]
SPINNERS = "◐◑◒◓⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def frame(*rows: str) -> str:
    return "\n".join(rows) + "\n\n"


def test_the_progress_table_becomes_each_functions_final_line():
    output = ("ℹ Info: Pushing functions ...\n✓ Success: Successfully pushed 2 functions.\n"
              + frame("◐ Deploying    • Create session (create-session)          • Current status: waiting",
                      "◓ Deploying    • Chat widget (widget)                     • Current status: building")
              + frame("◑ Deploying    • Create session (create-session)          • Current status: building",
                      "✓ Deployed     • Chat widget (widget)                      ")
              + frame("✓ Deployed     • Create session (create-session)           ",
                      "✓ Deployed     • Chat widget (widget)                      "))
    assert readable(SECOND, output) == ["✓ Success: Successfully pushed 2 functions.",
                                        "✓ Deployed   • Create session (create-session)",
                                        "✓ Deployed   • Chat widget (widget)"]


def test_escapes_and_carriage_return_redraws_leave_what_the_terminal_shows():
    output = ("\x1b[32m✓ Success:\x1b[0m Setting client\n"
              "\x1b[?25l⠋ building\r⠙ building\r\x1b[2K✓ Success: Successfully pushed 1 tables\x1b[?25h\n")
    shown = readable(["push", "tables"], output)
    assert shown == ["✓ Success: Setting client", "✓ Success: Successfully pushed 1 tables"]
    assert not any(c in "".join(shown) for c in SPINNERS + "\x1b\r")


def test_the_first_passs_expected_errors_fold_into_one_line_that_says_why():
    rows = [("Create session", "create-session"), ("Chat widget", "widget")]
    output = ("Error fetching console variables.\n" * 2
              + "".join(f"✗ Error        • {name} ({fid})   • Session not found. Please run "
                        "`appwrite login` to create a session\n" for name, fid in rows)
              + "✗ Error: No functions were pushed.\n")
    shown = readable(FIRST, output)
    assert len(shown) == 2
    assert shown[0].startswith('✗ Expected: "Session not found" for each new function (create-session, widget)')
    assert "appwrite/sdk-for-cli#239" in shown[0] and "docs/deploy.md" in shown[0]
    assert shown[1] == "✗ Error: No functions were pushed. (expected, above)"


def test_an_unexpected_error_is_kept_as_printed():
    other = "✗ Error        • Escalate (escalate)   • Invalid `runtime` param"
    shown = readable(FIRST, f"{other}\n✗ Error: No functions were pushed.\n")
    assert shown == ["✗ Error      • Escalate (escalate) • Invalid `runtime` param",
                     "✗ Error: No functions were pushed."]
    # On the code pass even "Session not found" is not the expected one: it stays.
    failed = "✗ Error        • Escalate (escalate)   • Session not found."
    assert readable(SECOND, failed + "\n") == ["✗ Error      • Escalate (escalate) • Session not found."]


def test_a_tables_counts_join_its_line_and_the_created_tables_share_one():
    output = ("ℹ Info: Table Sessions does not exist in the project. Creating ... \n"
              "✓ Success: Created Messages ( messages )\n✓ Success: Created Sessions ( sessions )\n"
              "ℹ Info: Pushing table Sessions ( chat - sessions ) attributes\n"
              "✓ Success: Created 35 columns\nℹ Info: Creating indexes ...\n✓ Success: Created 15 indexes\n"
              "✓ Success: Successfully pushed Sessions ( sessions )\n✓ Success: Successfully pushed 2 tables\n")
    assert readable(["push", "tables"], output) == [
        "✓ Success: Created Messages ( messages ), Sessions ( sessions )",
        "✓ Success: Successfully pushed Sessions ( sessions ): 35 columns, 15 indexes",
        "✓ Success: Successfully pushed 2 tables"]
