# bash completion for hone: subcommands, options and their values, and job numbers
# from honed, all from `hone __complete WORD...`; file names where it offers
# nothing (a config file, an output path). Installed as
# /usr/share/bash-completion/completions/hone.
_hone() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local IFS=$'\n'
  local candidates
  candidates=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
  if [ -n "$candidates" ]; then
    COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
  else
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _hone hone
