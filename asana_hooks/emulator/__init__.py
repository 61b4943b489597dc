"""A local Asana for webhooks: an independent oracle that imports nothing else from asana_hooks."""
