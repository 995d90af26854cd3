"""Platform adapters: translate platform events to `bot.events` and render replies back."""
