"""Benchmarks and measurements quoted in docs/reliability.md."""

# Per-minute budgets (chat_core.budgets) roomy enough for runs that play thousands of visitors from one process,
# and for tests that are not about the budgets. Their requests are still made (and measured); only the refusals
# are out of the way. tests/test_budgets.py and tests/test_budgets_stack.py test the budgets themselves.
ROOMY_BUDGETS = {name: "1000000" for name in ("SESSIONS_PER_MINUTE", "GUEST_SESSIONS_PER_MINUTE",
                                              "USER_SESSIONS_PER_MINUTE", "GUEST_MESSAGES_PER_MINUTE",
                                              "USER_MESSAGES_PER_MINUTE", "GUEST_ESCALATIONS_PER_MINUTE",
                                              "USER_ESCALATIONS_PER_MINUTE", "GUEST_HEARTBEATS_PER_MINUTE",
                                              "USER_HEARTBEATS_PER_MINUTE")}
# Agents' capacity (chat_core.availability) is out of the way for the same runs: one agent claims hundreds of
# sessions there. tests/test_assignment*.py test the capacity itself.
ROOMY_BUDGETS["AGENT_CAPACITY"] = "1000000"
