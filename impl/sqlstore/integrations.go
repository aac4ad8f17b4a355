package sqlstore

import (
	"context"
	"fmt"

	"github.com/iagente/iagente-sdr/impl"
)

// The secrets (access_token, app_secret, client_token) are read and
// written here only: in integrationColumns and CreateIntegration, sealed
// at rest when a secrets key is set (seal.go) and opened by
// openIntegration.
const integrationColumns = `id, organization_id, name, channel, provider, active, phone_number, phone_number_id,
	access_token, app_secret, verify_token_hash, waba_id, agent_id, client_token, created_at, updated_at`

// CreateIntegration implements impl.IntegrationStore.
func (s *IntegrationStore) CreateIntegration(ctx context.Context, in *impl.Integration) error {
	in.CreatedAt = s.db.timestamp()
	in.UpdatedAt = in.CreatedAt
	err := s.db.pool.QueryRowxContext(ctx, s.db.rebind(`INSERT INTO integrations
		(organization_id, name, channel, provider, active, phone_number, phone_number_id,
		 access_token, app_secret, verify_token_hash, waba_id, agent_id, client_token, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		in.OrganizationID, in.Name, in.Channel, in.Provider, in.Active, in.PhoneNumber, in.PhoneNumberID,
		s.db.seal(purposeAccessToken, in.AccessToken), s.db.seal(purposeAppSecret, in.AppSecret), in.VerifyTokenHash,
		in.WABAID, in.AgentID, s.db.seal(purposeClientToken, in.ClientToken),
		in.CreatedAt, in.UpdatedAt).Scan(&in.ID)
	if isForeignKeyViolation(err) {
		return impl.Errorf(impl.ENotFound, "Organization %d not found.", in.OrganizationID)
	}
	if err != nil {
		return fmt.Errorf("create integration: %w", err)
	}
	return nil
}

// FindIntegrationByID implements impl.IntegrationStore.
func (s *IntegrationStore) FindIntegrationByID(ctx context.Context, orgID, id int64) (*impl.Integration, error) {
	var in impl.Integration
	err := s.db.get(ctx, &in, `SELECT `+integrationColumns+` FROM integrations WHERE organization_id = ? AND id = ?`, orgID, id)
	if err != nil {
		return nil, notFound(err, "Integration")
	}
	if err := s.openIntegration(&in); err != nil {
		return nil, err
	}
	return &in, nil
}

// FindIntegrationForInbound implements impl.IntegrationStore.
func (s *IntegrationStore) FindIntegrationForInbound(ctx context.Context, id int64) (*impl.Integration, error) {
	var in impl.Integration
	err := s.db.get(ctx, &in, `SELECT `+integrationColumns+` FROM integrations WHERE id = ?`, id)
	if err != nil {
		return nil, notFound(err, "Integration")
	}
	if err := s.openIntegration(&in); err != nil {
		return nil, err
	}
	return &in, nil
}

// ListIntegrations implements impl.IntegrationStore.
func (s *IntegrationStore) ListIntegrations(ctx context.Context, orgID int64, channel string) ([]*impl.Integration, error) {
	q, args := `SELECT `+integrationColumns+` FROM integrations WHERE organization_id = ?`, []any{orgID}
	if channel != "" {
		q, args = q+` AND channel = ?`, append(args, channel)
	}
	out := []*impl.Integration{}
	// Every send without an integration_id lists them: prepared once (two
	// texts, with and without the channel).
	if err := s.db.selectAll(ctx, &out, q+` ORDER BY id`, args...); err != nil {
		return nil, fmt.Errorf("list integrations: %w", err)
	}
	for _, in := range out {
		if err := s.openIntegration(in); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SetIntegrationActive implements impl.IntegrationStore.
func (s *IntegrationStore) SetIntegrationActive(ctx context.Context, orgID, id int64, active bool) error {
	res, err := s.db.pool.ExecContext(ctx, s.db.rebind(
		`UPDATE integrations SET active = ?, updated_at = ? WHERE organization_id = ? AND id = ?`),
		active, s.db.timestamp(), orgID, id)
	if err != nil {
		return fmt.Errorf("update integration: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return impl.Errorf(impl.ENotFound, "Integration not found.")
	}
	return nil
}

// FindTemplateSources implements impl.IntegrationStore. It is the one query
// across organizations: the periodic sync serves all of them.
func (s *IntegrationStore) FindTemplateSources(ctx context.Context) ([]*impl.Integration, error) {
	out := []*impl.Integration{}
	err := s.db.pool.SelectContext(ctx, &out, s.db.rebind(`SELECT `+integrationColumns+` FROM integrations
		WHERE provider = ? AND active AND waba_id <> '' ORDER BY organization_id, id`), impl.ProviderWhatsAppCloud)
	if err != nil {
		return nil, fmt.Errorf("find template sources: %w", err)
	}
	for _, in := range out {
		if err := s.openIntegration(in); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func utcIntegration(in *impl.Integration) {
	in.CreatedAt, in.UpdatedAt = in.CreatedAt.UTC(), in.UpdatedAt.UTC()
}

// openIntegration finishes an integration read from the database: UTC
// times, and its secrets opened.
func (s *IntegrationStore) openIntegration(in *impl.Integration) error {
	utcIntegration(in)
	var err error
	for _, f := range []struct {
		purpose string
		value   *string
	}{{purposeAccessToken, &in.AccessToken}, {purposeAppSecret, &in.AppSecret}, {purposeClientToken, &in.ClientToken}} {
		if *f.value, err = s.db.opened(f.purpose, *f.value); err != nil {
			return fmt.Errorf("integration %d: %w", in.ID, err)
		}
	}
	return nil
}
