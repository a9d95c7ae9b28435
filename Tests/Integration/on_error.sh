# Sourced by every integration script through BASH_ENV (tools/test sets it): the command that
# stops a script under `set -e` names its file, line and exit code on stderr, so the log says
# which check failed even where the check itself prints nothing. Silent where a script has turned
# `set -e` off on purpose. Not run on its own: not named test_*.
set -o errtrace
trap '_on_error_rc=$?; [[ $- == *e* ]] && echo "${BASH_SOURCE[0]##*/}:$LINENO: exit $_on_error_rc: $BASH_COMMAND" >&2' ERR
