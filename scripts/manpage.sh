#!/usr/bin/env bash
# manpage: writes the man page of a program (snowgate or snowsim) to stdout, built from its own
# --help texts, so the page and the help cannot say different things.
#   scripts/manpage.sh build/snowgate > snowgate.1
set -euo pipefail
bin=${1:?usage: manpage.sh PROGRAM}
prog=$(basename "$bin")
version=$("$bin" --version 2>/dev/null | awk '{print $2}')
version=${version:-unknown}

# roff: a backslash is \e, and a line may not start with a dot or an apostrophe.
roff() {
  sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"
}

top=$("$bin" --help 2>&1)
# The first paragraph after the usage, up to its first colon or full stop.
summary=$(printf '%s\n' "$top" | awk '!NF && started {exit} NF && !/^Usage:/ {printf "%s ", $0; started=1}' |
  sed -e 's/[:.].*//' -e 's/ *$//')
# The commands: lines "  name   what it does" under "Commands:".
commands=$(printf '%s\n' "$top" | awk '/^Commands:/ {on=1; next} on && /^  [a-z]/ {print $1} on && /^$/ {on=0}')

echo ".TH ${prog^^} 1 \"$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)\" \"$prog $version\" \"User Commands\""
echo ".SH NAME"
echo "$prog \\- $(printf '%s' "$summary" | roff)"
echo ".SH SYNOPSIS"
echo ".nf"
printf '%s\n' "$top" | grep '^Usage:' | sed 's/^Usage: *//' | roff
echo ".fi"
echo ".SH DESCRIPTION"
echo ".nf"
printf '%s\n' "$top" | grep -v '^Usage:' | roff
echo ".fi"
if [ -n "$commands" ]; then
  echo ".SH COMMANDS"
  for c in $commands; do
    echo ".SS $c"
    echo ".nf"
    "$bin" "$c" --help 2>&1 | roff || true
    echo ".fi"
  done
fi
echo ".SH FILES"
if [ "$prog" = snowgate ]; then
  echo "The data directory (\\fB--data\\fR) holds the SQLite store \\fIsnowgate.db\\fR and the master key \\fImaster.key\\fR (mode 0600)."
  echo "An example configuration with every setting is installed as \\fIshare/doc/snowgate/snowgate.example.ini\\fR."
else
  echo "The data directory (\\fB--data\\fR) holds the instance's records."
fi
echo ".SH SEE ALSO"
echo "The README, docs/operations.md and docs/openapi.yaml in the snowgate sources."
