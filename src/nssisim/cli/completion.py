"""``nssisim completion SHELL``: print the shell completion script (the same one Typer's ``--show-completion`` prints)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

#: The environment variable the completion script sets when it asks ``nssisim`` for completions.
COMPLETE_VAR = "_NSSISIM_COMPLETE"


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"
    powershell = "powershell"


def completion(
    shell: Annotated[Shell, typer.Argument(help="The shell: bash, zsh, fish or powershell.")],
) -> None:
    """Print the completion script for SHELL; load it with, for bash, `eval "$(nssisim completion bash)"` in ~/.bashrc.

    zsh: `eval "$(nssisim completion zsh)"` in ~/.zshrc; fish: `nssisim completion fish >
    ~/.config/fish/completions/nssisim.fish`. `nssisim --install-completion` installs it for the current
    shell instead. Commands, sub-commands and options complete; so do the values of a few choices.
    """
    from typer._completion_classes import completion_init
    from typer._completion_shared import get_completion_script

    completion_init()
    typer.echo(get_completion_script(prog_name="nssisim", complete_var=COMPLETE_VAR, shell=shell.value))
