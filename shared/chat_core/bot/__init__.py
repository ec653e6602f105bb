"""The reference bot (the `bot` function): its FAQ (`faq`), its rules (`policy`), its model provider behind a small
interface (`provider`), and the event handler that ties them to the functions (`handler`)."""
