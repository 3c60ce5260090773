# bash completion for hone: subcommands, options and their values, job numbers and
# knob names from honed, all from `hone __complete WORD...`; file names where it offers
# nothing (a config file, an output path). Installed as
# /usr/share/bash-completion/completions/hone.
_hone() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local IFS=$'\n'
  local candidates
  candidates=$("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
  if [ -n "$candidates" ]; then
    COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
    # A knob group (vm.) goes on into a knob's name: no space after it.
    if [ ${#COMPREPLY[@]} -eq 1 ] && [ "${COMPREPLY[0]%.}" != "${COMPREPLY[0]}" ]; then
      compopt -o nospace 2>/dev/null
    fi
  else
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _hone hone
