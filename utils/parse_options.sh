#!/usr/bin/env bash
# Kaldi-style option parsing for recipe scripts; source it after declaring defaults:
#
#   stage=0; nj=4; use_gpu=false
#   help_message="Usage: $0 [options] <args>"
#   . utils/parse_options.sh
#
# Semantics:
#   --foo-bar VALUE / --foo-bar=VALUE   sets foo_bar (dashes become underscores);
#   an option whose variable was not declared before sourcing is an error;
#   a variable whose default is true/false only accepts true or false;
#   --config FILE                       sources FILE (var=value lines) where it appears (later options win);
#   --help / -h                         prints $help_message and exits 0;
#   --                                  ends the options.
# Remaining arguments are left in "$@" (the caller's positional parameters).
# Errors go to stderr and exit the calling script with status 1.

__po_die() { echo "$0: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h)
      if [ -n "${help_message:-}" ]; then printf '%s\n' "$help_message"; else echo "$0: no help message"; fi
      exit 0 ;;
    --)
      shift; break ;;
    --config|--config=*)
      if [ "$1" = --config ]; then
        [ $# -ge 2 ] || __po_die "option --config needs a file"
        __po_file=$2; shift 2
      else
        __po_file=${1#--config=}; shift
      fi
      [ -f "$__po_file" ] || __po_die "config file '$__po_file' not found"
      # shellcheck disable=SC1090
      . "$__po_file" || __po_die "error sourcing config file '$__po_file'"
      ;;
    --*)
      __po_arg=${1#--}
      if [[ $__po_arg == *=* ]]; then
        __po_name=${__po_arg%%=*}; __po_value=${__po_arg#*=}; shift
      else
        __po_name=$__po_arg
        [ $# -ge 2 ] || __po_die "option --$__po_name needs a value"
        __po_value=$2; shift 2
      fi
      __po_var=${__po_name//-/_}
      [[ $__po_var =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || __po_die "invalid option --$__po_name"
      # Declared? (${var+x} is empty only for an unset variable.)
      eval "__po_set=\${$__po_var+x}"
      [ -n "$__po_set" ] || __po_die "invalid option --$__po_name (no variable '$__po_var' in this script)"
      eval "__po_old=\$$__po_var"
      if [ "$__po_old" = true ] || [ "$__po_old" = false ]; then
        [ "$__po_value" = true ] || [ "$__po_value" = false ] ||
          __po_die "option --$__po_name expects true or false, got '$__po_value'"
      fi
      printf -v "$__po_var" '%s' "$__po_value"
      ;;
    *)
      break ;;
  esac
done
unset __po_arg __po_name __po_value __po_var __po_set __po_old __po_file
unset -f __po_die
true
