-- Promptwise language server for Neovim 0.7 and later, without plugins.
--
-- Copy this file to ~/.config/nvim/lua/promptwise.lua and add to your init.lua:
--
--   require("promptwise").setup({})
--   -- or, with the server in a virtual environment:
--   require("promptwise").setup({ cmd = { "/path/to/.venv/bin/promptwise", "lsp" } })
--
-- It starts one server per project (the folder holding promptwise.yaml, else .git, else the
-- file's folder) for flow.dag.yaml, flow.flex.yaml, *.prompty, Jinja templates and
-- promptwise.yaml, and attaches every such buffer to it. Diagnostics, hover, completion,
-- go to definition, references, rename, code actions, document links, folding ranges and
-- code lenses (Run, Batch, cost) work through Neovim's own LSP client. Results of runs come
-- back as messages (`window/showMessage`) with the path of the results file.

local M = {}

local defaults = {
  cmd = { "promptwise", "lsp" },
  -- files the server reads; `*.py` tools are checked through the flows that use them
  patterns = { "flow.dag.yaml", "flow.dag.yml", "flow.flex.yaml", "flow.flex.yml", "*.prompty",
               "*.jinja2", "*.j2", "promptwise.yaml" },
  root_markers = { "promptwise.yaml", ".git" },
  init_options = { resultMessages = true },
  code_lens = true, -- refresh lenses on open and save (run one with :lua vim.lsp.codelens.run())
}

local clients = {} -- root folder -> client id

local function find_root(path, markers)
  local folder = vim.fn.fnamemodify(path, ":p:h")
  local current = folder
  while true do
    for _, marker in ipairs(markers) do
      if vim.loop.fs_stat(current .. "/" .. marker) then
        return current
      end
    end
    local parent = vim.fn.fnamemodify(current, ":h")
    if parent == current then
      return folder
    end
    current = parent
  end
end

local function attach(options, bufnr)
  local path = vim.api.nvim_buf_get_name(bufnr)
  if path == "" then
    return
  end
  local root = find_root(path, options.root_markers)
  local id = clients[root]
  if id == nil or vim.lsp.get_client_by_id(id) == nil then
    id = vim.lsp.start_client({
      name = "promptwise",
      cmd = options.cmd,
      root_dir = root,
      workspace_folders = { { uri = vim.uri_from_fname(root), name = root } },
      init_options = options.init_options,
      on_attach = function(client, attached)
        if options.code_lens and client.server_capabilities.codeLensProvider then
          vim.lsp.codelens.refresh()
        end
        if options.on_attach then
          options.on_attach(client, attached)
        end
      end,
    })
    if id == nil then
      vim.notify("promptwise: the server did not start; check `cmd` (" .. table.concat(options.cmd, " ") .. ")",
        vim.log.levels.ERROR)
      return
    end
    clients[root] = id
  end
  vim.lsp.buf_attach_client(bufnr, id)
end

function M.setup(user)
  local options = vim.tbl_deep_extend("force", defaults, user or {})
  local group = vim.api.nvim_create_augroup("promptwise", { clear = true })
  vim.api.nvim_create_autocmd({ "BufReadPost", "BufNewFile" }, {
    group = group,
    pattern = options.patterns,
    callback = function(event)
      if event.match:match("%.prompty$") then
        vim.bo[event.buf].filetype = "markdown" -- front matter and a Jinja body: close enough to read
      end
      attach(options, event.buf)
    end,
  })
  if options.code_lens then
    vim.api.nvim_create_autocmd({ "BufWritePost" }, {
      group = group,
      pattern = options.patterns,
      callback = function()
        vim.lsp.codelens.refresh()
      end,
    })
  end
  return options
end

return M
