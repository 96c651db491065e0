package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"notebookfs/remote"
	"notebookfs/remote/local"
)

// defaultOrgRole is the role of --org ORG without :ROLE.
const defaultOrgRole = local.RoleReadWrite

// userTimeout bounds one user command (the store may wait for a lock).
const userTimeout = time.Minute

// userCommand is "user" and its subcommands, which manage the store that
// 'notebookfs serve' serves.
func userCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user add|token|revoke|remove --data DIR ...",
		Short: "add, remove or revoke users and tokens of a served store",
		Long: `Users, organizations and tokens of the store that 'notebookfs serve' serves.
The token is printed once, alone on stdout; only its hash is stored.
--expires makes a token stop working after that long (30d, 2w, 36h).
A running server checks tokens and memberships at every request: a revoke
or a removal takes effect at once.`,
		Example: `  notebookfs user add --data /tmp/nb --org acme:owner alice > alice.token
  notebookfs user revoke --data /tmp/nb alice.token`,
		Args: cobra.ArbitraryArgs,
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{"want a subcommand: add, token, revoke or remove"}
			}
			return usageError{fmt.Sprintf("unknown subcommand %q (want add, token, revoke or remove)", args[0])}
		},
	}
	var orgs orgFlag
	var addExpires, tokenExpires, removeOrg string
	var deleteNotebooks bool
	expiresFlag := func(to *string) func(*pflag.FlagSet) {
		return func(set *pflag.FlagSet) {
			set.StringVar(to, "expires", "", "the token stops working after `DURATION` (30d, 2w, 36h; default never)")
		}
	}
	cmd.AddCommand(
		userVerb("add --data DIR [--org ORG[:ROLE]]... [--expires 30d] NAME", "create user NAME, print a new token",
			`Creates user NAME and prints a new token for it. --org makes NAME a member
of ORG (created if missing) with ROLE: owner, admin, read_write_delete,
read_write (the default) or read_only. --expires makes the token stop
working after that long (30d, 2w, 36h); its expiry goes to stderr.`,
			"  notebookfs user add --data /tmp/nb --org acme:owner --expires 30d alice > alice.token",
			func(set *pflag.FlagSet) {
				set.Var(&orgs, "org", "make the user a member of `ORG[:ROLE]` (repeatable; ORG is created if missing)")
				expiresFlag(&addExpires)(set)
			}, func(dir, name string) error { return runUserAdd(dir, name, orgs, addExpires) }),
		userVerb("token --data DIR [--expires 30d] NAME", "print another new token for NAME",
			`Issues another token for an existing user and prints it. --expires makes
it stop working after that long (30d, 2w, 36h).`,
			"  notebookfs user token --data /tmp/nb --expires 2w alice > alice.token",
			expiresFlag(&tokenExpires), func(dir, name string) error { return runUserToken(dir, name, tokenExpires) }),
		userRevokeCommand(),
		userVerb("remove --data DIR [--org ORG | --delete-notebooks] NAME", "take NAME out of an organization, or delete the user",
			`With --org ORG, takes user NAME out of organization ORG. Without it,
deletes user NAME and revokes their tokens; a user who owns notebooks is
deleted only with --delete-notebooks, which deletes those notebooks too.
A running server refuses the user from its next request on.`,
			`  notebookfs user remove --data /tmp/nb --org acme alice
  notebookfs user remove --data /tmp/nb --delete-notebooks alice`,
			func(set *pflag.FlagSet) {
				set.StringVar(&removeOrg, "org", "", "take the user out of organization `ORG` only")
				set.BoolVar(&deleteNotebooks, "delete-notebooks", false, "delete the user's own notebooks with them")
			}, func(dir, name string) error {
				if removeOrg != "" && deleteNotebooks {
					return usageError{"--org and --delete-notebooks do not go together"}
				}
				return withUserStore(dir, func(ctx context.Context, store *local.Store) error {
					return removeUser(ctx, store, name, removeOrg, deleteNotebooks)
				})
			}),
	)
	return cmd
}

// userRevokeCommand is "user revoke": its argument is a token file, or a
// user NAME with --all, so it checks its arguments itself.
func userRevokeCommand() *cobra.Command {
	var data string
	var all bool
	cmd := &cobra.Command{
		DisableFlagsInUseLine: true,
		Use:                   "revoke --data DIR TOKEN-FILE|- | --all NAME",
		Short:                 "revoke the token in a file (- : stdin), or every token of NAME",
		Long: `Revokes the token in TOKEN-FILE (- reads it from stdin; a token is never
taken from the command line), or with --all every token of user NAME.
A running server refuses a revoked token from its next request on.`,
		Example: `  notebookfs user revoke --data /tmp/nb alice.token
  notebookfs user revoke --data /tmp/nb --all alice`,
		Args: func(_ *cobra.Command, pos []string) error {
			switch {
			case data == "":
				return usageError{"--data DIR is required"}
			case len(pos) != 1:
				return usageError{"want exactly one TOKEN-FILE (- for stdin), or --all NAME"}
			case all && remote.ValidNamespace(pos[0]) != nil:
				return usageError{fmt.Sprintf("user name %q: letters, digits, '_', '.' and '-', at most 63", pos[0])}
			}
			return nil
		},
		RunE: func(_ *cobra.Command, pos []string) error {
			return withUserStore(data, func(ctx context.Context, store *local.Store) error {
				if all {
					return revokeAll(ctx, store, pos[0])
				}
				return revokeToken(ctx, store, pos[0], os.Stdin)
			})
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "directory of the store (required)")
	cmd.Flags().BoolVar(&all, "all", false, "revoke every token of user NAME (the argument is a user name, not a file)")
	completeCommon(cmd)
	return cmd
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

func (f *orgFlag) Type() string { return "ORG[:ROLE]" }

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

// userVerb is a user subcommand: --data DIR, the flags extra adds, and
// exactly one user NAME, which run gets.
func userVerb(use, short, long, example string, extra func(*pflag.FlagSet), run func(dir, name string) error) *cobra.Command {
	var data string
	cmd := &cobra.Command{
		DisableFlagsInUseLine: true,
		Use:                   use, Short: short, Long: long, Example: example,
		Args: func(_ *cobra.Command, pos []string) error {
			switch {
			case data == "":
				return usageError{"--data DIR is required"}
			case len(pos) != 1:
				return usageError{"want exactly one user NAME"}
			}
			if err := remote.ValidNamespace(pos[0]); err != nil {
				return usageError{fmt.Sprintf("user name %q: letters, digits, '_', '.' and '-', at most 63", pos[0])}
			}
			return nil
		},
		RunE: func(_ *cobra.Command, pos []string) error { return run(data, pos[0]) },
	}
	cmd.Flags().StringVar(&data, "data", "", "directory of the store (created if missing; required)")
	if extra != nil {
		extra(cmd.Flags())
	}
	completeCommon(cmd)
	return cmd
}

func runUserAdd(dir, name string, orgs orgFlag, expires string) error {
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

func runUserToken(dir, name, expires string) error {
	until, err := parseExpiry(expires, time.Now())
	if err != nil {
		return usageError{err.Error()}
	}
	return withUserStore(dir, func(ctx context.Context, store *local.Store) error {
		return issueToken(ctx, store, name, until)
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
