from django.apps import AppConfig


class OrgConfig(AppConfig):
    name = "jikuai.org"
    label = "org"
    verbose_name = "机构与员工 Organisation and staff"

    def ready(self):
        from django.db.models.signals import post_migrate

        from jikuai.org.roles import sync_role_permissions

        post_migrate.connect(sync_role_permissions, dispatch_uid="jikuai_sync_role_permissions")
