package main

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/spf13/cobra"

	requestv1 "github.com/comity-mla/comity/proto/comity/request/v1"
)

func newMessagesCmd(g *globals) *cobra.Command {
	c := group("messages", "Correspondence on a request",
		"  comityctl messages create KZ-2026-000002 --visibility BOTH_SIDES --body 'The logs are ready.'\n  comityctl messages list KZ-2026-000002",
		newMessagesCreateCmd(g), newMessagesListCmd(g))
	c.Aliases = []string{"message"}
	return c
}

func newMessagesCreateCmd(g *globals) *cobra.Command {
	var body, bodyFile, visibility string
	c := &cobra.Command{
		Use:   "create REQUEST",
		Short: "Write a message on a request",
		Long: `Write a message on a request. --visibility says who may read it, and has no default, so
that nothing meant for your own agency reaches the other side by mistake: BOTH_SIDES (the
requested side once the request is transmitted) or OWN_AGENCY.`,
		Example: "  comityctl messages create KZ-2026-000002 --visibility BOTH_SIDES --body 'The logs are ready.'\n" +
			"  comityctl messages create KZ-2026-000002 --visibility OWN_AGENCY --body-file note.txt",
		Args: args(1, "one REQUEST"),
		RunE: func(c *cobra.Command, a []string) error {
			if (body == "") == (bodyFile == "") {
				return fmt.Errorf("%w: give the text with either --body or --body-file", errUsage)
			}
			if bodyFile != "" {
				data, err := readInput(bodyFile, c.InOrStdin())
				if err != nil {
					return fmt.Errorf("%w: --body-file: %v", errUsage, err)
				}
				body = strings.TrimRight(string(data), "\n")
			}
			if visibility == "" {
				return fmt.Errorf("%w: --visibility is required: BOTH_SIDES or OWN_AGENCY", errUsage)
			}
			n, err := enumValue("visibility", visibility, requestv1.Message_Visibility(0).Descriptor())
			if err != nil {
				return err
			}
			cl, err := g.client()
			if err != nil {
				return err
			}
			name, err := resolveRequest(c.Context(), cl, a[0])
			if err != nil {
				return err
			}
			msg := &requestv1.Message{Body: body, Visibility: requestv1.Message_Visibility(n)}
			data, err := cl.callRaw(c.Context(), http.MethodPost, "/v1/"+name+"/messages", msg)
			if err != nil {
				return err
			}
			return g.print(data, listOfOne{columns: messageColumns})
		},
	}
	c.Flags().StringVar(&body, "body", "", "the text")
	c.Flags().StringVar(&bodyFile, "body-file", "", "a file holding the text (- for standard input)")
	enumFlag(c, &visibility, "visibility", "who may read it (required)", requestv1.Message_Visibility(0).Descriptor())
	return c
}

var messageColumns = []column{
	{header: "NAME", path: "name"}, {header: "TIME", path: "createTime"}, {header: "AUTHOR", path: "author.subject"},
	{header: "AGENCY", path: "author.agency"}, {header: "VISIBILITY", path: "visibility"}, {header: "BODY", path: "body", width: 80},
}

func newMessagesListCmd(g *globals) *cobra.Command {
	var l listFlags
	c := &cobra.Command{
		Use:     "list REQUEST",
		Short:   "List the messages on a request you may read, oldest first",
		Example: "  comityctl messages list KZ-2026-000002\n  comityctl messages list KZ-2026-000002 --all --output json",
		Args:    args(1, "one REQUEST"),
		RunE: func(c *cobra.Command, a []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			name, err := resolveRequest(c.Context(), cl, a[0])
			if err != nil {
				return err
			}
			data, err := l.list(c.Context(), cl, "/v1/"+name+"/messages", "messages")
			if err != nil {
				return err
			}
			return g.print(data, listView{key: "messages", columns: messageColumns})
		},
	}
	l.register(c, false, false)
	return c
}
