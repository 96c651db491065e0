package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"notebookfs/remote"
	"notebookfs/remote/local"
)

// defaultOrgRole is the role of --org ORG without :ROLE.
const defaultOrgRole = local.RoleReadWrite

// userTimeout bounds one user command (the store may wait for a lock).
const userTimeout = time.Minute

const userUsage = `Usage:
  notebookfs user add --data DIR [--org ORG[:ROLE]]... [--expires 30d] NAME   create user NAME, print a new token
  notebookfs user token --data DIR [--expires 30d] NAME                       print another new token for NAME
  notebookfs user revoke --data DIR TOKEN-FILE|-                              revoke the token in the file (- : stdin)
  notebookfs user revoke --data DIR --all NAME                                revoke every token of NAME
  notebookfs user remove --data DIR --org ORG NAME                            take NAME out of organization ORG
  notebookfs user remove --data DIR [--delete-notebooks] NAME                 delete user NAME and their tokens

Users, organizations and tokens of the store that 'notebookfs serve' serves.
The token is printed once, alone on stdout; only its hash is stored.
--org makes NAME a member of ORG (created if missing) with ROLE: owner,
admin, read_write_delete, read_write (the default) or read_only.
--expires makes the token stop working after that long (30d, 2w, 36h).
A running server checks tokens and memberships at every request: a revoke
or a removal takes effect at once.

Example:
  notebookfs user add --data /tmp/nb --org acme:owner alice > alice.token
  notebookfs user revoke --data /tmp/nb alice.token
`

func runUser(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, userUsage)
		return usageError{"want a subcommand: add, token, revoke or remove"}
	}
	switch args[0] {
	case "add":
		return runUserAdd(args[1:])
	case "token":
		return runUserToken(args[1:])
	case "revoke":
		return runUserRevoke(args[1:])
	case "remove":
		return runUserRemove(args[1:])
	case "-h", "--help", "help":
		fmt.Print(userUsage)
		return nil
	}
	fmt.Fprint(os.Stderr, userUsage)
	return usageError{fmt.Sprintf("unknown subcommand %q (want add, token, revoke or remove)", args[0])}
}

// orgFlag collects repeated --org ORG[:ROLE].
type orgFlag []orgRole

type orgRole struct{ org, role string }

func (f *orgFlag) String() string {
	var parts []string
	for _, o := range *f {
		parts = append(parts, o.org+":"+o.role)
	}
	return strings.Join(parts, ",")
}

func (f *orgFlag) Set(v string) error {
	org, role, found := strings.Cut(v, ":")
	if !found {
		role = defaultOrgRole
	}
	if err := remote.ValidNamespace(org); err != nil || org == remote.PublicNamespace {
		return fmt.Errorf("organization %q: not a valid organization name", org)
	}
	switch role {
	case local.RoleOwner, local.RoleAdmin, local.RoleReadWriteDelete, local.RoleReadWrite, local.RoleReadOnly:
	default:
		return fmt.Errorf("role %q: want owner, admin, read_write_delete, read_write or read_only", role)
	}
	*f = append(*f, orgRole{org, role})
	return nil
}

// userFlags parses --data DIR and exactly one NAME.
func userFlags(name string, args []string, extra func(*flag.FlagSet)) (dir, user string, err error) {
	set := flag.NewFlagSet("user "+name, flag.ContinueOnError)
	set.Usage = func() { fmt.Fprint(set.Output(), userUsage+"\nFlags:\n"); set.PrintDefaults() }
	data := set.String("data", "", "directory of the store (created if missing; required)")
	if extra != nil {
		extra(set)
	}
	pos, err := parseInterspersed(set, args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", "", err
		}
		return "", "", usageError{err.Error()}
	}
	switch {
	case *data == "":
		set.Usage()
		return "", "", usageError{"--data DIR is required"}
	case len(pos) != 1:
		set.Usage()
		return "", "", usageError{"want exactly one user NAME"}
	}
	if err := remote.ValidNamespace(pos[0]); err != nil {
		return "", "", usageError{fmt.Sprintf("user name %q: letters, digits, '_', '.' and '-', at most 63", pos[0])}
	}
	return *data, pos[0], nil
}

func runUserAdd(args []string) error {
	var orgs orgFlag
	var expires string
	dir, name, err := userFlags("add", args, func(set *flag.FlagSet) {
		set.Var(&orgs, "org", "make the user a member of `ORG[:ROLE]` (repeatable; ORG is created if missing)")
		set.StringVar(&expires, "expires", "", "the token stops working after `DURATION` (30d, 2w, 36h; default never)")
	})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	until, err := parseExpiry(expires, time.Now())
	if err != nil {
		return usageError{err.Error()}
	}
	store, err := local.Open(dir, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), userTimeout)
	defer cancel()
	if err := store.AddUser(ctx, name); err != nil {
		if errors.Is(err, remote.ErrExist) {
			return fmt.Errorf("%w (for another token of an existing user: notebookfs user token --data %s %s)", err, dir, name)
		}
		return err
	}
	for _, o := range orgs {
		if err := store.AddOrg(ctx, o.org); err != nil && !errors.Is(err, remote.ErrExist) {
			return err
		}
		if err := store.AddMember(ctx, o.org, name, o.role); err != nil {
			if errors.Is(err, remote.ErrNotFound) {
				return fmt.Errorf("%q is a user, not an organization: %w", o.org, err)
			}
			return err
		}
	}
	return issueToken(ctx, store, name, until)
}

func runUserToken(args []string) error {
	var expires string
	dir, name, err := userFlags("token", args, func(set *flag.FlagSet) {
		set.StringVar(&expires, "expires", "", "the token stops working after `DURATION` (30d, 2w, 36h; default never)")
	})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	until, err := parseExpiry(expires, time.Now())
	if err != nil {
		return usageError{err.Error()}
	}
	return withUserStore(dir, func(ctx context.Context, store *local.Store) error {
		return issueToken(ctx, store, name, until)
	})
}

func runUserRevoke(args []string) error {
	var all bool
	set := flag.NewFlagSet("user revoke", flag.ContinueOnError)
	set.Usage = func() { fmt.Fprint(set.Output(), userUsage+"\nFlags:\n"); set.PrintDefaults() }
	data := set.String("data", "", "directory of the store (required)")
	set.BoolVar(&all, "all", false, "revoke every token of user NAME (the argument is a user name, not a file)")
	pos, err := parseInterspersed(set, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return nil
	case err != nil:
		return usageError{err.Error()}
	case *data == "":
		return usageError{"--data DIR is required"}
	case len(pos) != 1:
		return usageError{"want exactly one TOKEN-FILE (- for stdin), or --all NAME"}
	case all && remote.ValidNamespace(pos[0]) != nil:
		return usageError{fmt.Sprintf("user name %q: letters, digits, '_', '.' and '-', at most 63", pos[0])}
	}
	return withUserStore(*data, func(ctx context.Context, store *local.Store) error {
		if all {
			return revokeAll(ctx, store, pos[0])
		}
		return revokeToken(ctx, store, pos[0], os.Stdin)
	})
}

func runUserRemove(args []string) error {
	var org string
	var deleteNotebooks bool
	dir, name, err := userFlags("remove", args, func(set *flag.FlagSet) {
		set.StringVar(&org, "org", "", "take the user out of organization `ORG` only")
		set.BoolVar(&deleteNotebooks, "delete-notebooks", false, "delete the user's own notebooks with them")
	})
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	if org != "" && deleteNotebooks {
		return usageError{"--org and --delete-notebooks do not go together"}
	}
	return withUserStore(dir, func(ctx context.Context, store *local.Store) error {
		return removeUser(ctx, store, name, org, deleteNotebooks)
	})
}

// withUserStore opens the store of dir for one user command.
func withUserStore(dir string, fn func(ctx context.Context, store *local.Store) error) error {
	store, err := local.Open(dir, nil)
	if err != nil {
		return err
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), userTimeout)
	defer cancel()
	return fn(ctx, store)
}
