"""How people operate the flows: the `gemflow` CLI, `gemflow serve`, and the status views."""
