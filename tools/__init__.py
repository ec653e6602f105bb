"""Development and admin tools (never shipped with the functions: appwrite.json ignores `tools`)."""
