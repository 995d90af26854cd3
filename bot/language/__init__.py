"""Reading free text: normalisation and phrase matching, the red-flag check, intents and choices."""
