package main

import (
	"fmt"
	"os"
	"strings"
)

// completionFlags lists each command's flags for shell completion.
var completionFlags = map[string]string{
	"mount":       "--metrics-addr --prefetch-bytes --remote --store --cache-dir --cache-size --metadata-ttl --poll-interval --call-timeout --read-only --allow-other --allow-others-read --daemon --on-conflict --flush-timeout --disk-cache-size -o --log-level --log-format --fuse-debug",
	"status":      "--json",
	"unmount":     "",
	"upload":      "--storage-path --storage-credential --overwrite",
	"download":    "--at",
	"ls":          "",
	"versions":    "",
	"rename":      "",
	"rm":          "",
	"share":       "--actions",
	"unshare":     "",
	"shared-with": "",
	"login":       "--host --token-file --username --password-stdin --no-verify-ssl --no-check --json --log-level --log-format",
	"logout":      "--json --log-level --log-format",
	"whoami":      "",
	"doctor":      "--cache-dir",
	"completion":  "",
	"serve":       "--listen --data --allow-remote --fault-rate --latency --seed --log-level --log-format",
	"user":        "--data --org",
}

// verbFlags are the flags every backend verb takes.
const verbFlags = "--remote --store --call-timeout --json --log-level --log-format"

const bashCompletion = `# bash completion for notebookfs; load with: source <(notebookfs completion bash)
_notebookfs() {
    local cur prev cmd
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    cmd="${COMP_WORDS[1]}"
    if [[ ${COMP_CWORD} -eq 1 ]]; then
        COMPREPLY=( $(compgen -W "%s help" -- "$cur") )
        return
    fi
    case "$prev" in
        --store|--cache-dir|--data|--token-file)
            COMPREPLY=( $(compgen -d -- "$cur") $(compgen -f -- "$cur") ); return ;;
        --log-level|log_level)
            COMPREPLY=( $(compgen -W "trace debug info warn error" -- "$cur") ); return ;;
        --log-format)
            COMPREPLY=( $(compgen -W "text json" -- "$cur") ); return ;;
        --actions)
            COMPREPLY=( $(compgen -W "read read,write" -- "$cur") ); return ;;
        -o)
            COMPREPLY=( $(compgen -W "ro rw allow_other cache_size= metadata_ttl= call_timeout= cache_dir= remote= store= log_level= log_format= debug" -- "$cur") ); return ;;
    esac
    local flags=""
    case "$cmd" in
%s    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=( $(compgen -W "$flags --help" -- "$cur") )
        return
    fi
    case "$cmd" in
        ls) COMPREPLY=( $(compgen -W "owned shared public" -- "$cur") ) ;;
        completion) COMPREPLY=( $(compgen -W "bash" -- "$cur") ) ;;
        user) COMPREPLY=( $(compgen -W "add token" -- "$cur") ) ;;
        help) COMPREPLY=( $(compgen -W "%s" -- "$cur") ) ;;
        download|versions|rename|rm|share|unshare|shared-with)
            if [[ "$cur" == t* || -z "$cur" ]]; then COMPREPLY=( $(compgen -W "tiledb://" -- "$cur") ); compopt -o nospace 2>/dev/null; fi
            COMPREPLY+=( $(compgen -f -- "$cur") ) ;;
        mount|unmount|umount) COMPREPLY=( $(compgen -d -- "$cur") ) ;;
        *) COMPREPLY=( $(compgen -f -- "$cur") ) ;;
    esac
}
complete -F _notebookfs notebookfs
`

func runCompletion(args []string) error {
	set := newFlagSet("completion", `Usage: notebookfs completion bash

Prints a bash completion script for notebookfs.

Example:
  notebookfs completion bash > ~/.local/share/bash-completion/completions/notebookfs
  source <(notebookfs completion bash)
`)
	pos, err := parseCommand(set, args, 1, 1)
	if err != nil {
		return err
	}
	if pos[0] != "bash" {
		return usageError{fmt.Sprintf("shell %q: only bash is supported", pos[0])}
	}
	names := commandNames()
	var cases strings.Builder
	for _, n := range names {
		flags := completionFlags[n]
		switch n {
		case "upload", "download", "ls", "versions", "rename", "rm", "share", "unshare", "shared-with", "whoami", "doctor":
			flags = strings.TrimSpace(flags + " " + verbFlags)
		}
		fmt.Fprintf(&cases, "        %s) flags=%q ;;\n", n, flags)
	}
	list := strings.Join(names, " ")
	_, err = fmt.Fprintf(os.Stdout, bashCompletion, list, cases.String(), list)
	return err
}

// commandNames is every command, in the order of the usage text.
func commandNames() []string {
	return []string{"mount", "unmount", "upload", "download", "ls", "versions", "rename", "rm", "share", "unshare",
		"shared-with", "login", "logout", "whoami", "doctor", "status", "completion", "serve", "user"}
}
