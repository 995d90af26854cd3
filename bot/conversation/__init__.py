"""The rules of a conversation, the answers it gives, and the engine that orders each user's turns."""
