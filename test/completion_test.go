//go:build linux

package test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Each shell's probe completes the command line $2 with the completion
// script in $1 and prints one candidate a line.
var completionProbes = map[string]string{
	// bash-completion's own way of testing: the COMP_* variables of the
	// line, then the function the script registered for notebookfs.
	"bash": `source /usr/share/bash-completion/bash_completion
source "$1"
COMP_LINE="$2" COMP_POINT=${#2}
read -ra COMP_WORDS <<<"$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
fn=$(complete -p notebookfs | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
"$fn" notebookfs "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}" 2>/dev/null
printf '%s\n' "${COMPREPLY[@]}"
`,
	// A real interactive zsh on a pseudo-terminal with compsys loaded,
	// sent the line and a TAB; compadd is wrapped to print what it gets.
	"zsh": `zmodload zsh/zpty
init=$(mktemp)
cat > $init <<'INIT'
PROMPT='' RPROMPT=''
autoload -U compinit && compinit -u -D
compadd() {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return; fi
  local -a hits; builtin compadd -A hits "$@"
  (( $#hits )) && print -lr -- "CANDIDATE "${^hits}
}
comppostfuncs=(probe-done)
probe-done() { print -r -- "PROBE DONE"; exit }
bindkey "^I" complete-word
INIT
dir=$(mktemp -d)
cp $1 $dir/_notebookfs
zpty z zsh -f -i
zpty -w z "fpath=($dir \$fpath); source $init"
zpty -n -w z "$2"$'\t'
while zpty -r z line; do
  line=${line//$'\r'/}; line=${line%$'\n'}
  [[ $line == *"PROBE DONE"* ]] && break
  [[ $line == *"CANDIDATE "* ]] && print -r -- "${line#*CANDIDATE }"
done
rm -rf $init $dir
`,
	// fish completes a command line without a terminal.
	"fish": "source $argv[1]; complete -C $argv[2] | string replace -r '\\t.*' ''; true",
}

// The completion scripts, run through bash (with bash-completion), zsh
// and fish, offer the verbs, a command's flags, -o options and ls's
// categories.
func TestCompletionScripts(t *testing.T) {
	bin := buildBinary(t)
	home := t.TempDir()
	verbs := []string{"mount", "unmount", "status", "upload", "download", "ls", "versions", "rename", "rm", "share",
		"unshare", "shared-with", "login", "logout", "whoami", "doctor", "serve", "user", "completion", "version"}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		t.Run(shell, func(t *testing.T) {
			sh := needProgram(t, shell)
			if shell == "bash" {
				if _, err := os.Stat("/usr/share/bash-completion/bash_completion"); err != nil {
					if os.Getenv("CI") != "" {
						t.Fatalf("bash-completion not installed: %v", err)
					}
					t.Skipf("bash-completion not installed (apt-get install bash-completion): %v", err)
				}
			}
			dir := t.TempDir()
			script := filepath.Join(dir, "notebookfs."+shell)
			out, err := exec.Command(bin, "completion", shell).Output()
			if err != nil {
				t.Fatalf("notebookfs completion %s: %v", shell, err)
			}
			mustWrite(t, script, out)
			probe := filepath.Join(dir, "probe."+shell)
			mustWrite(t, probe, []byte(completionProbes[shell]))
			complete := func(line string) []string {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				args := []string{probe, script, line}
				if shell == "zsh" {
					args = append([]string{"-f"}, args...)
				}
				cmd := exec.CommandContext(ctx, sh, args...)
				cmd.Dir = dir
				cmd.Env = []string{"PATH=" + filepath.Dir(bin) + ":/usr/bin:/bin", "HOME=" + home, "TERM=dumb",
					"XDG_CONFIG_HOME=" + filepath.Join(home, "config"), "XDG_DATA_HOME=" + filepath.Join(home, "data")}
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s completing %q: %v\n%s", shell, line, err, out)
				}
				got := strings.Fields(string(out))
				if shell == "bash" {
					// bash quotes what it inserts: ro\,cache_size=
					for i := range got {
						got[i] = strings.ReplaceAll(got[i], `\`, "")
					}
				}
				return got
			}
			got := complete("notebookfs ")
			for _, v := range verbs {
				if !slices.Contains(got, v) {
					t.Errorf("%s offers %q for 'notebookfs ', without %s", shell, got, v)
				}
			}
			got = complete("notebookfs user ")
			for _, v := range []string{"add", "token", "revoke", "remove"} {
				if !slices.Contains(got, v) {
					t.Errorf("%s offers %q for 'notebookfs user ', without %s", shell, got, v)
				}
			}
			if got := complete("notebookfs user token --exp"); !slices.Equal(got, []string{"--expires"}) {
				t.Errorf("%s offers %q for 'notebookfs user token --exp'", shell, got)
			}
			if got := complete("notebookfs mount --meta"); !slices.Equal(got, []string{"--metadata-ttl"}) {
				t.Errorf("%s offers %q for 'notebookfs mount --meta'", shell, got)
			}
			if got := complete("notebookfs mount -o ro,cache_s"); !slices.Equal(got, []string{"ro,cache_size="}) {
				t.Errorf("%s offers %q for 'notebookfs mount -o ro,cache_s'", shell, got)
			}
			if got := complete("notebookfs ls "); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"owned", "public", "shared"}) {
				t.Errorf("%s offers %q for 'notebookfs ls '", shell, got)
			}
		})
	}
}
